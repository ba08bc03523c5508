using System.Net;
using EchoKit.Internal;
using Microsoft.Extensions.Logging;

namespace EchoKit;

public sealed partial class EchoServer
{
    /// <summary>
    /// Raised when a connection has been accepted, before its first byte is read, on a thread-pool thread.
    /// A handler that throws is logged and ignored. Keep handlers short: they share the thread pool with socket completions.
    /// </summary>
    public event EventHandler<ConnectionAcceptedEventArgs>? ConnectionAccepted;

    /// <summary>
    /// Raised once for every accepted connection when it has ended and its resources are back in the pools.
    /// A handler that throws is logged and ignored.
    /// </summary>
    public event EventHandler<ConnectionClosedEventArgs>? ConnectionClosed;

    /// <summary>
    /// Raised on a thread-pool thread when a connection was closed at once instead of being served
    /// (see <see cref="ConnectionRejectionReason"/>). A handler that throws is logged and ignored.
    /// </summary>
    public event EventHandler<ConnectionRejectedEventArgs>? ConnectionRejected;

    /// <summary>
    /// Raised when accepting failed for a reason other than a client going away (for example, too many open
    /// files). The server keeps accepting after a pause that grows up to one second. A handler that throws is logged and ignored.
    /// </summary>
    public event EventHandler<ServerFaultedEventArgs>? ServerFaulted;

    /// <summary>The sender of every event: this server, or the <see cref="FaultProxy"/> it serves.</summary>
    internal object EventSender { get; set; }

    internal bool HasConnectionClosedSubscribers => ConnectionClosed is not null;

    /// <summary>Whether connection endpoints are worth fetching (they cost a system call and an allocation).</summary>
    internal bool WantsConnectionDetails(ILogger logger) =>
        ConnectionAccepted is not null || ConnectionClosed is not null || ConnectionRejected is not null || logger.IsEnabled(LogLevel.Debug);

    /// <summary>Whether a started connection must log or raise <see cref="ConnectionAccepted"/> before its first read.</summary>
    internal bool WantsAcceptedReport(ILogger logger) => ConnectionAccepted is not null || logger.IsEnabled(LogLevel.Debug);

    internal void RaiseConnectionAccepted(long connectionId, EndPoint? localEndPoint, EndPoint? remoteEndPoint, IReadOnlyList<EchoFault>? faults)
    {
        if (ConnectionAccepted is { } handlers)
        {
            Raise(handlers, new ConnectionAcceptedEventArgs(connectionId, localEndPoint, remoteEndPoint, faults ?? []), nameof(ConnectionAccepted));
        }
    }

    internal void RaiseConnectionClosed(ConnectionClosedEventArgs args)
    {
        if (ConnectionClosed is { } handlers)
        {
            Raise(handlers, args, nameof(ConnectionClosed));
        }
    }

    internal void RaiseConnectionRejected(EndPoint? localEndPoint, EndPoint? remoteEndPoint, ConnectionRejectionReason reason)
    {
        if (ConnectionRejected is not null)
        {
            // Off the accept loop, so a slow handler cannot stall accepting during a flood.
            var args = new ConnectionRejectedEventArgs(localEndPoint, remoteEndPoint, reason);
            ThreadPool.UnsafeQueueUserWorkItem(
                static s => s.Server.Raise(s.Server.ConnectionRejected, s.Args, nameof(ConnectionRejected)),
                (Server: this, Args: args),
                preferLocal: false);
        }
    }

    internal void RaiseServerFaulted(EndPoint endPoint, Exception exception)
    {
        if (ServerFaulted is { } handlers)
        {
            Raise(handlers, new ServerFaultedEventArgs(endPoint, exception), nameof(ServerFaulted));
        }
    }

    /// <summary>Calls each subscriber in its own try/catch, so one failing handler neither stops the others nor reaches the engine.</summary>
    private void Raise<TArgs>(EventHandler<TArgs>? handlers, TArgs args, string eventName)
        where TArgs : EventArgs
    {
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((EventHandler<TArgs>)handler)(EventSender, args);
            }
            catch (Exception ex)
            {
                EchoServerLog.EventHandlerFailed(_logger, eventName, ex);
            }
        }
    }
}
