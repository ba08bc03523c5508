using System.Net;

namespace EchoKit;

/// <summary>
/// What <see cref="EchoServerOptions.FaultSelector"/> is told about a stream connection it picks the faults of, at
/// accept and before any byte is read. Immutable.
/// </summary>
public sealed class FaultSelectionContext
{
    /// <summary>Creates the context of one connection.</summary>
    /// <param name="connectionId">The connection's id, its accept ordinal within the server (the first connection is 1).</param>
    /// <param name="transport">The connection's transport: TCP, TLS or Unix.</param>
    /// <param name="localEndPoint">The server's end, or <see langword="null"/> when the socket could not tell.</param>
    /// <param name="remoteEndPoint">The client's end, or <see langword="null"/> when the socket could not tell.</param>
    public FaultSelectionContext(long connectionId, EchoTransport transport, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
    {
        ConnectionId = connectionId;
        Transport = transport;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The connection's id, as in <see cref="ConnectionAcceptedEventArgs.ConnectionId"/>: 1 for the server's first connection, 3 for its third.</summary>
    public long ConnectionId { get; }

    /// <summary>The connection's transport: <see cref="EchoTransport.Tcp"/>, <see cref="EchoTransport.Tls"/> or <see cref="EchoTransport.Unix"/>.</summary>
    public EchoTransport Transport { get; }

    /// <summary>The server's end of the connection, or <see langword="null"/> when the socket could not tell.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The client's end of the connection (for a client bound to 127.0.0.5, that address), or <see langword="null"/>.</summary>
    public EndPoint? RemoteEndPoint { get; }
}
