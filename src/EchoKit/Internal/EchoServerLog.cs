using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// Every log message of the engine, source-generated (no allocation when the level is off). Event ids are
/// stable and documented in the README and docs/TRANSPORTS.md: 1-19 server lifecycle, 20-39 connections and
/// datagrams, 40-59 faults.
/// </summary>
internal static partial class EchoServerLog
{
    [LoggerMessage(1, LogLevel.Information, "Echo server listening on {EndPoint} ({Transport}).")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, EchoTransport transport);

    [LoggerMessage(2, LogLevel.Information, "Echo server stopping; {ActiveConnections} connection(s) get up to {ShutdownTimeout} to finish.")]
    public static partial void Stopping(ILogger logger, long activeConnections, TimeSpan shutdownTimeout);

    [LoggerMessage(3, LogLevel.Information, "Echo server stopped.")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(4, LogLevel.Warning, "Shutdown drain ended before {Remaining} connection(s) finished; aborting them.")]
    public static partial void AbortingAfterShutdownTimeout(ILogger logger, long remaining);

    [LoggerMessage(5, LogLevel.Information, "Removed the stale Unix socket file {Path}: nobody was listening on it.")]
    public static partial void StaleSocketFileRemoved(ILogger logger, string path);

    [LoggerMessage(7, LogLevel.Information, "Fault injection on: {Rules}; seed {Seed}{SeedOrigin}.")]
    public static partial void FaultsEnabled(ILogger logger, string rules, int seed, string seedOrigin);

    [LoggerMessage(8, LogLevel.Information, "Fault rules changed: {Rules}; seed {Seed}.")]
    public static partial void FaultsChanged(ILogger logger, string rules, int seed);

    [LoggerMessage(48, LogLevel.Warning, "The fault selector threw for connection {ConnectionId}; the connection gets no faults.")]
    public static partial void FaultSelectorFailed(ILogger logger, Exception exception, long connectionId);

    [LoggerMessage(20, LogLevel.Debug, "Connection {ConnectionId} accepted from {RemoteEndPoint} on {LocalEndPoint}.")]
    public static partial void ConnectionAccepted(ILogger logger, long connectionId, EndPoint? remoteEndPoint, EndPoint? localEndPoint);

    [LoggerMessage(21, LogLevel.Debug, "Connection {ConnectionId} closed: {Reason} ({SocketError}); {BytesReceived} bytes received, {BytesSent} sent.")]
    public static partial void ConnectionClosed(ILogger logger, long connectionId, ConnectionCloseReason reason, SocketError socketError, long bytesReceived, long bytesSent);

    [LoggerMessage(22, LogLevel.Debug, "Connection from {RemoteEndPoint} on {LocalEndPoint} rejected: {Reason}.")]
    public static partial void ConnectionRejected(ILogger logger, EndPoint? remoteEndPoint, EndPoint? localEndPoint, ConnectionRejectionReason reason);

    [LoggerMessage(23, LogLevel.Debug, "Accept on {EndPoint} returned {SocketError} for a connection that went away in the backlog; accepting continues.")]
    public static partial void AcceptedConnectionGone(ILogger logger, EndPoint endPoint, SocketError socketError);

    [LoggerMessage(24, LogLevel.Debug, "Connection {ConnectionId} TLS handshake failed: {Problem}")]
    public static partial void TlsHandshakeFailed(ILogger logger, long connectionId, string problem, Exception exception);

    [LoggerMessage(25, LogLevel.Debug, "Connection {ConnectionId} TLS handshake completed: {Protocol}, {CipherSuite}.")]
    public static partial void TlsHandshakeCompleted(ILogger logger, long connectionId, SslProtocols protocol, TlsCipherSuite cipherSuite);

    [LoggerMessage(26, LogLevel.Debug, "Datagram of {Size} bytes from {RemoteEndPoint} on {LocalEndPoint} dropped: {Reason}.")]
    public static partial void DatagramDropped(ILogger logger, int size, EndPoint? remoteEndPoint, EndPoint localEndPoint, string reason);

    [LoggerMessage(27, LogLevel.Information, "Connection {ConnectionId}: the upstream {Upstream} is unavailable ({SocketError}); the client is closed.")]
    public static partial void UpstreamUnavailable(ILogger logger, long connectionId, EndPoint upstream, SocketError socketError);

    [LoggerMessage(40, LogLevel.Error, "Accept on {EndPoint} failed; retrying in {RetryDelay}.")]
    public static partial void AcceptFailed(ILogger logger, EndPoint endPoint, TimeSpan retryDelay, Exception exception);

    [LoggerMessage(41, LogLevel.Error, "An {EventName} event handler threw; the server carries on.")]
    public static partial void EventHandlerFailed(ILogger logger, string eventName, Exception exception);

    [LoggerMessage(42, LogLevel.Warning, "Connection {ConnectionId} failed with socket error {SocketError}.")]
    public static partial void ConnectionFailed(ILogger logger, long connectionId, SocketError socketError);

    [LoggerMessage(43, LogLevel.Error, "Connection {ConnectionId} hit an unexpected exception and was closed.")]
    public static partial void ConnectionException(ILogger logger, long connectionId, Exception exception);

    [LoggerMessage(44, LogLevel.Error, "UDP receive on {EndPoint} failed; retrying in {RetryDelay}.")]
    public static partial void UdpReceiveFailed(ILogger logger, EndPoint endPoint, TimeSpan retryDelay, Exception exception);

    [LoggerMessage(45, LogLevel.Warning, "Connection {ConnectionId} TLS handshake failed on the server's side; check the certificate and TLS settings.")]
    public static partial void TlsHandshakeError(ILogger logger, long connectionId, Exception exception);
}
