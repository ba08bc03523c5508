using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// Every log message of the engine, source-generated (no allocation when the level is off). Event ids are
/// stable and documented in the README: 1-19 server lifecycle, 20-39 connections, 40-59 faults.
/// </summary>
internal static partial class EchoServerLog
{
    [LoggerMessage(1, LogLevel.Information, "Echo server listening on {EndPoint}.")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Information, "Echo server stopping; {ActiveConnections} connection(s) get up to {ShutdownTimeout} to finish.")]
    public static partial void Stopping(ILogger logger, long activeConnections, TimeSpan shutdownTimeout);

    [LoggerMessage(3, LogLevel.Information, "Echo server stopped.")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(4, LogLevel.Warning, "Shutdown drain ended before {Remaining} connection(s) finished; aborting them.")]
    public static partial void AbortingAfterShutdownTimeout(ILogger logger, long remaining);

    [LoggerMessage(20, LogLevel.Debug, "Connection {ConnectionId} accepted from {RemoteEndPoint} on {LocalEndPoint}.")]
    public static partial void ConnectionAccepted(ILogger logger, long connectionId, EndPoint? remoteEndPoint, EndPoint? localEndPoint);

    [LoggerMessage(21, LogLevel.Debug, "Connection {ConnectionId} closed: {Reason} ({SocketError}); {BytesReceived} bytes received, {BytesSent} sent.")]
    public static partial void ConnectionClosed(ILogger logger, long connectionId, ConnectionCloseReason reason, SocketError socketError, long bytesReceived, long bytesSent);

    [LoggerMessage(22, LogLevel.Debug, "Connection from {RemoteEndPoint} on {LocalEndPoint} rejected: {Reason}.")]
    public static partial void ConnectionRejected(ILogger logger, EndPoint? remoteEndPoint, EndPoint? localEndPoint, ConnectionRejectionReason reason);

    [LoggerMessage(23, LogLevel.Debug, "Accept on {EndPoint} returned {SocketError} for a connection that went away in the backlog; accepting continues.")]
    public static partial void AcceptedConnectionGone(ILogger logger, EndPoint endPoint, SocketError socketError);

    [LoggerMessage(40, LogLevel.Error, "Accept on {EndPoint} failed; retrying in {RetryDelay}.")]
    public static partial void AcceptFailed(ILogger logger, EndPoint endPoint, TimeSpan retryDelay, Exception exception);

    [LoggerMessage(41, LogLevel.Error, "An {EventName} event handler threw; the server carries on.")]
    public static partial void EventHandlerFailed(ILogger logger, string eventName, Exception exception);

    [LoggerMessage(42, LogLevel.Warning, "Connection {ConnectionId} failed with socket error {SocketError}.")]
    public static partial void ConnectionFailed(ILogger logger, long connectionId, SocketError socketError);

    [LoggerMessage(43, LogLevel.Error, "Connection {ConnectionId} hit an unexpected exception and was closed.")]
    public static partial void ConnectionException(ILogger logger, long connectionId, Exception exception);
}
