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
        : this(connectionId, localEndPoint, remoteEndPoint, [])
    {
    }

    /// <summary>Creates the event data with the fault rules the connection got.</summary>
    /// <param name="connectionId">The connection's id, unique within its server.</param>
    /// <param name="localEndPoint">The server endpoint the client connected to.</param>
    /// <param name="remoteEndPoint">The client's endpoint.</param>
    /// <param name="faults">The rules of <see cref="EchoServerOptions.Faults"/> applied to this connection.</param>
    /// <exception cref="ArgumentNullException"><paramref name="faults"/> is <see langword="null"/>.</exception>
    public ConnectionAcceptedEventArgs(long connectionId, EndPoint? localEndPoint, EndPoint? remoteEndPoint, IReadOnlyList<EchoFault> faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        ConnectionId = connectionId;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        Faults = faults;
    }

    /// <summary>The connection's id, unique within its server; the same id appears in <see cref="ConnectionClosedEventArgs"/>.</summary>
    public long ConnectionId { get; }

    /// <summary>The server endpoint the client connected to, or <see langword="null"/> if the socket could not tell.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The client's endpoint, or <see langword="null"/> if the socket could not tell.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// The rules of <see cref="EchoServerOptions.Faults"/> this connection got (decided at accept by each rule's
    /// <c>on=</c> and <c>toxicity</c>, from <see cref="EchoServerOptions.FaultSeed"/>); empty for a connection without faults.
    /// </summary>
    public IReadOnlyList<EchoFault> Faults { get; }
}
