using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// A TLS connection: a handshake bounded by <see cref="TlsEchoOptions.HandshakeTimeout"/>, then the same strict turn
/// as a <see cref="SocketConnection"/> over <see cref="SslStream"/>: read into one pooled buffer
/// (<see cref="EchoServerOptions.ReceiveBufferSize"/>), write those bytes back, and only then read again, so the
/// connection holds at most one buffer of echo data and a client that does not read is held back by TCP flow control.
/// Its life is <see cref="StreamConnection"/>'s; this type adds the handshake and the pump. Not pooled: the
/// <see cref="SslStream"/> it needs is per connection anyway.
/// </summary>
internal sealed partial class TlsConnection : StreamConnection, IDisposable
{
    /// <summary>The most plaintext per write: one TLS record, so a slow reader's progress is seen record by record.</summary>
    private const int MaxWriteChunk = 16 * 1024;

    private SslStream _ssl = null!;

    public TlsConnection(ServerContext context)
        : base(context)
    {
    }

    /// <summary>Binds to the accepted socket; throws an <see cref="IOException"/> when the client already went away.</summary>
    public override void Initialize(long id, EchoListener listener, Socket socket)
    {
        _ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        Begin(id, listener, socket, ConnectionPhase.Handshake);
    }

    /// <summary>Runs the handshake and the pump on the thread pool: a handshake is too much work for the accept loop.</summary>
    public override void Start()
    {
        if (!AwaitsProxyHeader)
        {
            CountFaultsAtAccept();
        }

        ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.RunAsync(), this, preferLocal: false);
    }

    /// <summary>
    /// Stop, lifetime: a connection waiting for data has nothing in flight, so it gets close_notify and FIN at once
    /// and is drained until the client closes; one that is writing finishes that echo first (the pump sees the
    /// decision after its write); one still in its handshake is closed. Call under the set's lock.
    /// </summary>
    public override void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        var phase = Phase;
        if (phase is ConnectionPhase.Handshake or ConnectionPhase.ProxyHeader)
        {
            Socket?.Dispose();
        }
        else if (phase is ConnectionPhase.WaitForData or ConnectionPhase.Receive && TryMovePhase(phase, ConnectionPhase.Stopped))
        {
            Touch();

            // The pump's read stays pending (SslStream allows one read and one write at a time); off the set's lock.
            ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.SendCloseNotifyAsync(), this, preferLocal: false);
        }
    }

    /// <summary>
    /// close_notify and FIN are sent by the pump itself (<see cref="SendCloseNotifyAsync"/>); here only the resources
    /// go, with RST (linger 0) when a fault resets the connection.
    /// </summary>
    protected override void CloseTransport(ConnectionCloseReason reason)
    {
        if (Faults is { } faults && faults.End())
        {
            SetAbortiveClose();
        }

        DisposeTransport();
    }

    protected override void DisposeTransport()
    {
        _ssl.Dispose();
        base.DisposeTransport();
    }

    /// <summary>Disposes the TLS stream and the socket; safe to call more than once.</summary>
    public void Dispose() => DisposeTransport();

    protected override void Release()
    {
        // Nothing to return: the object dies with the connection.
    }

    private async Task RunAsync()
    {
        try
        {
            if (AwaitsProxyHeader && !await ReadProxyHeaderAsync().ConfigureAwait(false))
            {
                // Rejected: the close below turns into the rejection (see StreamConnection.RejectPending).
                return;
            }

            ReportAccepted();
            if (await HandshakeAsync().ConfigureAwait(false) && (Faults is not { } faults || StartFaults(faults)))
            {
                if (PrepareGreeting())
                {
                    await GreetAsync().ConfigureAwait(false);
                }

                await EchoAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (SocketErrorOf(ex) is { } error)
            {
                DecideFromError(error);
            }
            else
            {
                TryDecide(ex is IOException ? ConnectionCloseReason.ConnectionReset : ConnectionCloseReason.Error, SocketError.Success);
            }
        }
        catch (Exception ex)
        {
            EchoServerLog.ConnectionException(Context.Logger, Id, ex);
            TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        }
        finally
        {
            try
            {
                Close();
            }
            catch (Exception ex)
            {
                // Nothing may escape a fire-and-forget pump; the connection is gone either way.
                EchoServerLog.ConnectionException(Context.Logger, Id, ex);
            }
        }
    }

    /// <summary>Once the connection is accepted (at accept, or after its PROXY header): the faults metric, as on TCP; the faults themselves start after the handshake.</summary>
    private void CountFaultsAtAccept()
    {
        CatchUpFaultChange();
        if (Faults is { } faults)
        {
            Context.Metrics.FaultsApplied(Listener, faults.Rules);
        }
    }

    /// <summary>
    /// The PROXY header comes before the TLS handshake, on the raw socket. The client's first TLS bytes may have come
    /// in the same receive: the TLS stream is rebuilt over a <see cref="PrefixedStream"/> that hands them to the
    /// handshake first. Returns whether the connection was accepted.
    /// </summary>
    private async ValueTask<bool> ReadProxyHeaderAsync()
    {
        SetPhase(ConnectionPhase.ProxyHeader);
        var socket = Socket!;
        var buffer = RentBuffer();
        var received = 0;
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            Touch();
            received += read;
            var status = ReadProxyHeader(buffer.AsSpan(0, received), out var consumed);
            if (status == ProxyParseStatus.Invalid)
            {
                return false;
            }

            if (status == ProxyParseStatus.Complete)
            {
                var handshakeStart = buffer.AsSpan(consumed, received - consumed).ToArray();
                ReleaseBuffer();
                var unused = _ssl;
                _ssl = new SslStream(new PrefixedStream(handshakeStart, new NetworkStream(socket, ownsSocket: false)), leaveInnerStreamOpen: false);
                await unused.DisposeAsync().ConfigureAwait(false);
                SetPhase(ConnectionPhase.Handshake);
                CountFaultsAtAccept();
                return true;
            }
        }
    }

    /// <summary>Authenticates as the server; returns whether to echo. A failure is this connection's close reason, never an exception.</summary>
    private async Task<bool> HandshakeAsync()
    {
        var metrics = Context.Metrics;
        var listener = Listener;
        var started = Stopwatch.GetTimestamp();
        metrics.TlsHandshakeStarted(listener);
        try
        {
            await _ssl.AuthenticateAsServerAsync(listener.TlsAuthentication!, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var timedOut = HandshakeTimedOut;
            var errorType = timedOut ? "timeout" : ex is AuthenticationException ? "authentication_failed" : ex is IOException ? "connection_reset" : "error";
            TryDecide(ConnectionCloseReason.TlsHandshakeFailed, SocketErrorOf(ex) ?? SocketError.Success);
            metrics.TlsHandshakeEnded(listener, started, protocol: null, errorType);
            if (CloseReason == ConnectionCloseReason.TlsHandshakeFailed)
            {
                if (ex is AuthenticationException or IOException or SocketException or ObjectDisposedException)
                {
                    EchoServerLog.TlsHandshakeFailed(Context.Logger, Id, timedOut ? "it timed out" : ex.Message, ex);
                }
                else
                {
                    // Not the client's doing: most likely the server's certificate or authentication settings.
                    EchoServerLog.TlsHandshakeError(Context.Logger, Id, ex);
                }
            }

            return false;
        }

        metrics.TlsHandshakeEnded(listener, started, _ssl.SslProtocol, errorType: null);
        if (Context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.TlsHandshakeCompleted(Context.Logger, Id, _ssl.SslProtocol, _ssl.NegotiatedCipherSuite);
        }

        Touch();
        return true;
    }

    private async Task EchoAsync()
    {
        var waitForData = Context.Options.WaitForDataBeforeAllocatingBuffer;
        var maxBytes = Context.Options.MaxBytesPerConnection;
        var holdBuffer = false;
        while (true)
        {
            if (waitForData && !holdBuffer)
            {
                // Wait with a zero-byte read, so an idle connection holds no buffer of ours.
                if (!TryEnter(ConnectionPhase.WaitForData))
                {
                    break;
                }

                await _ssl.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                if (!TryMovePhase(ConnectionPhase.WaitForData, ConnectionPhase.Receive))
                {
                    await DrainAsync().ConfigureAwait(false);
                    return;
                }
            }
            else if (!TryEnter(ConnectionPhase.Receive))
            {
                break;
            }

            var buffer = RentBuffer();
            var read = await _ssl.ReadAsync(buffer).ConfigureAwait(false);
            if (!TryMovePhase(ConnectionPhase.Receive, ConnectionPhase.Send))
            {
                // A stop claimed this connection while it waited and has sent close_notify: discard, drain.
                if (read > 0)
                {
                    await DrainAsync().ConfigureAwait(false);
                }

                return;
            }

            if (read == 0)
            {
                // close_notify or end of stream: every byte received has already been echoed.
                TryDecide(ConnectionCloseReason.ClientClosed, SocketError.Success);
                if (Faults is { SlowCloseDelay: > 0 } slowClose)
                {
                    await HoldCloseAsync(slowClose).ConfigureAwait(false);
                }
                else
                {
                    await SendCloseNotifyAsync().ConfigureAwait(false);
                }

                return;
            }

            BytesReceived += read;
            Touch();
            var count = read;
            if (maxBytes is { } limit && BytesReceived > limit)
            {
                // Echo up to the limit, then close gracefully; the rest is not echoed.
                count -= (int)Math.Min(read, BytesReceived - limit);
                TryDecide(ConnectionCloseReason.ByteLimitExceeded, SocketError.Success);
            }

            // The tests a connection without faults pays per read.
            if (FaultsChanged)
            {
                TakeUpFaultChange();
            }

            if (Faults is { } faults)
            {
                if (!await EchoWithFaultsAsync(faults, buffer, count).ConfigureAwait(false))
                {
                    return;
                }
            }
            else
            {
                for (var offset = 0; offset < count;)
                {
                    var chunk = Math.Min(count - offset, MaxWriteChunk);
                    await _ssl.WriteAsync(buffer.AsMemory(offset, chunk)).ConfigureAwait(false);
                    offset += chunk;
                    BytesSent += chunk;
                    Touch();
                }
            }

            if (IsClosing)
            {
                break;
            }

            // A read that filled the buffer means more is almost surely waiting: keep the buffer and read again.
            holdBuffer = read == buffer.Length;
            if (waitForData && !holdBuffer)
            {
                ReleaseBuffer();
            }
        }

        // Closing gracefully after an echo (stop, lifetime, byte limit, a fault's limit or close): close_notify and
        // FIN behind the echoed data, then read until the client closes, because closing with unread data would reset
        // the connection and destroy echo data the client has not read yet. The housekeeping timer bounds the wait.
        // A fault that resets (limit:then=reset) closes at once instead: RST.
        Touch();
        SetPhase(ConnectionPhase.Drain);
        if (CloseReason is ConnectionCloseReason.ServerStopping or ConnectionCloseReason.LifetimeExceeded or ConnectionCloseReason.ByteLimitExceeded
            || (CloseReason == ConnectionCloseReason.FaultInjected && Faults is not { ResetOnClose: true }))
        {
            await SendCloseNotifyAsync().ConfigureAwait(false);
            await DrainAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes the greeting after the handshake, before the first read. A stop meanwhile lets it finish: the echo loop
    /// then finds the close decided and drains. Not echo data, so not in <see cref="StreamConnection.BytesSent"/>.
    /// </summary>
    private async Task GreetAsync()
    {
        SetPhase(ConnectionPhase.Greet);
        await _ssl.WriteAsync(PendingGreeting).ConfigureAwait(false);
        GreetingDone();
        Touch();
    }

    /// <summary>Reads and discards until the client closes (or the housekeeping timer aborts the wait).</summary>
    private async Task DrainAsync()
    {
        SetPhase(ConnectionPhase.Drain);
        var buffer = RentBuffer();
        while (await _ssl.ReadAsync(buffer).ConfigureAwait(false) > 0)
        {
        }
    }

    /// <summary>Sends close_notify, then FIN. Either may fail when the client is already gone.</summary>
    private async Task SendCloseNotifyAsync()
    {
        try
        {
            await _ssl.ShutdownAsync().ConfigureAwait(false);
            Socket?.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The client or an abort got there first.
        }
    }

    private static SocketError? SocketErrorOf(Exception exception) => exception switch
    {
        SocketException socket => socket.SocketErrorCode,
        { InnerException: SocketException inner } => inner.SocketErrorCode,
        { InnerException: { InnerException: SocketException inner } } => inner.SocketErrorCode,
        _ => null,
    };
}
