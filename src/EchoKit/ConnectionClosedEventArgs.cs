using System.Net;
using System.Net.Sockets;

namespace EchoKit;

/// <summary>Data for <see cref="EchoServer.ConnectionClosed"/>.</summary>
public sealed class ConnectionClosedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="connectionId">The connection's id, as in <see cref="ConnectionAcceptedEventArgs.ConnectionId"/>.</param>
    /// <param name="localEndPoint">The server endpoint the client had connected to.</param>
    /// <param name="remoteEndPoint">The client's endpoint.</param>
    /// <param name="reason">Why the connection ended.</param>
    /// <param name="socketError">The socket error that ended it, or <see cref="SocketError.Success"/>.</param>
    /// <param name="bytesReceived">Bytes received from the client.</param>
    /// <param name="bytesSent">Bytes echoed back to the client.</param>
    /// <param name="duration">How long the connection was served.</param>
    public ConnectionClosedEventArgs(
        long connectionId,
        EndPoint? localEndPoint,
        EndPoint? remoteEndPoint,
        ConnectionCloseReason reason,
        SocketError socketError,
        long bytesReceived,
        long bytesSent,
        TimeSpan duration)
    {
        ConnectionId = connectionId;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        Reason = reason;
        SocketError = socketError;
        BytesReceived = bytesReceived;
        BytesSent = bytesSent;
        Duration = duration;
    }

    /// <summary>The connection's id, as in <see cref="ConnectionAcceptedEventArgs.ConnectionId"/>.</summary>
    public long ConnectionId { get; }

    /// <summary>The server endpoint the client had connected to, or <see langword="null"/> if unknown.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The client's endpoint, or <see langword="null"/> if unknown.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Why the connection ended.</summary>
    public ConnectionCloseReason Reason { get; }

    /// <summary>The socket error that ended the connection, or <see cref="SocketError.Success"/> when none did.</summary>
    public SocketError SocketError { get; }

    /// <summary>Bytes received from the client.</summary>
    public long BytesReceived { get; }

    /// <summary>Bytes echoed back to the client; less than <see cref="BytesReceived"/> only if the connection was cut mid-echo.</summary>
    public long BytesSent { get; }

    /// <summary>How long the connection was served, from accept to close.</summary>
    public TimeSpan Duration { get; }
}
