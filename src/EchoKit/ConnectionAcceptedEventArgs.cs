using System.Net;

namespace EchoKit;

/// <summary>Data for <see cref="EchoServer.ConnectionAccepted"/>.</summary>
public sealed class ConnectionAcceptedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="connectionId">The connection's id, unique within its server.</param>
    /// <param name="localEndPoint">The server endpoint the client connected to.</param>
    /// <param name="remoteEndPoint">The client's endpoint.</param>
    public ConnectionAcceptedEventArgs(long connectionId, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
    {
        ConnectionId = connectionId;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The connection's id, unique within its server; the same id appears in <see cref="ConnectionClosedEventArgs"/>.</summary>
    public long ConnectionId { get; }

    /// <summary>The server endpoint the client connected to, or <see langword="null"/> if the socket could not tell.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The client's endpoint, or <see langword="null"/> if the socket could not tell.</summary>
    public EndPoint? RemoteEndPoint { get; }
}
