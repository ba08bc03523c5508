using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// A TLS connection's handshake, the pump's <see cref="ConnectionPhase.Handshake"/> step: it puts a
/// <see cref="TlsTransport"/> over the socket, bounded by <see cref="TlsEchoOptions.HandshakeTimeout"/> (through
/// <see cref="EnforceLimits"/>), and reports how it went; from then on the pump runs over the TLS transport as over any other.
/// </summary>
internal sealed partial class StreamConnection
{
    private TlsTransport? _tls;
    private byte[]? _handshakePrefix;
    private long _handshakeStarted;

    /// <summary>Whether the connection came in on a TLS endpoint (its socket's transport stays under the TLS one).</summary>
    private bool IsTls => Listener.TlsAuthentication is not null;

    private bool StartHandshake()
    {
        var listener = Listener;
        _tls = new TlsTransport(this, _socketTransport.Socket!, listener.TlsAuthentication!);
        _transport = _sink = _tls;
        SetPhase(ConnectionPhase.Handshake);
        _handshakeStarted = Stopwatch.GetTimestamp();
        Context.Metrics.TlsHandshakeStarted(listener);
        var prefix = _handshakePrefix;
        _handshakePrefix = null;
        return _tls.Start(prefix);
    }

    /// <summary>The handshake ended: echo, or close with <see cref="ConnectionCloseReason.TlsHandshakeFailed"/> (never an exception).</summary>
    private ConnectionPhase OnHandshakeDone(SocketError error)
    {
        var metrics = Context.Metrics;
        var tls = _tls!;
        if (error != SocketError.Success)
        {
            var failure = tls.HandshakeFailure;
            var timedOut = HandshakeTimedOut;
            var errorType = timedOut ? "timeout" : failure is AuthenticationException ? "authentication_failed" : failure is IOException ? "connection_reset" : "error";
            TryDecide(ConnectionCloseReason.TlsHandshakeFailed, error == SocketError.SocketError ? SocketError.Success : error);
            metrics.TlsHandshakeEnded(Listener, _handshakeStarted, protocol: null, errorType);
            if (CloseReason == ConnectionCloseReason.TlsHandshakeFailed)
            {
                if (failure is AuthenticationException or IOException or SocketException or ObjectDisposedException)
                {
                    EchoServerLog.TlsHandshakeFailed(Context.Logger, Id, timedOut ? "it timed out" : failure.Message, failure);
                }
                else
                {
                    // Not the client's doing: most likely the server's certificate or authentication settings.
                    EchoServerLog.TlsHandshakeError(Context.Logger, Id, failure!);
                }
            }

            return ConnectionPhase.Close;
        }

        var ssl = tls.Stream;
        metrics.TlsHandshakeEnded(Listener, _handshakeStarted, ssl.SslProtocol, errorType: null);
        if (Context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.TlsHandshakeCompleted(Context.Logger, Id, ssl.SslProtocol, ssl.NegotiatedCipherSuite);
        }

        Touch();
        StartServing();
        return FirstStepOrGreeting;
    }
}
