using System.Net;

namespace EchoKit;

/// <summary>Data for <see cref="EchoServer.ConnectionRejected"/>.</summary>
public sealed class ConnectionRejectedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="localEndPoint">The server endpoint the client connected to.</param>
    /// <param name="remoteEndPoint">The client's endpoint.</param>
    /// <param name="reason">Why the connection was rejected.</param>
    public ConnectionRejectedEventArgs(EndPoint? localEndPoint, EndPoint? remoteEndPoint, ConnectionRejectionReason reason)
    {
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        Reason = reason;
    }

    /// <summary>The server endpoint the client connected to, or <see langword="null"/> if unknown.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The client's endpoint, or <see langword="null"/> if unknown.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Why the connection was rejected.</summary>
    public ConnectionRejectionReason Reason { get; }
}
