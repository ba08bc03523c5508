namespace EchoKit;

/// <summary>
/// A snapshot of an <see cref="EchoServer"/>'s counters, taken at one instant by <see cref="EchoServer.GetStatistics"/>
/// (of every listener, or of the listeners of one transport).
/// Connection counts cover TCP, TLS and Unix socket listeners; byte counts cover every transport (for TLS, the
/// decrypted bytes echoed); datagram counts cover UDP listeners.
/// </summary>
/// <param name="ActiveConnections">Connections being served now (TLS ones from accept, handshake included).</param>
/// <param name="AcceptedConnections">Connections accepted and served since the server started.</param>
/// <param name="RejectedConnections">Connections closed at once since the server started (over <see cref="EchoServerOptions.MaxConnections"/>, or while stopping).</param>
/// <param name="BytesReceived">Bytes received from all clients since the server started.</param>
/// <param name="BytesSent">Bytes echoed to all clients since the server started.</param>
public readonly record struct EchoServerStatistics(
    long ActiveConnections,
    long AcceptedConnections,
    long RejectedConnections,
    long BytesReceived,
    long BytesSent)
{
    /// <summary>UDP datagrams received, whether echoed or dropped.</summary>
    public long DatagramsReceived { get; init; }

    /// <summary>UDP datagrams sent back to their source.</summary>
    public long DatagramsEchoed { get; init; }

    /// <summary>
    /// UDP datagrams dropped without an answer because of their source: a port in
    /// <see cref="UdpEchoOptions.BlockedSourcePorts"/>, the listener's own port, or an address that cannot send
    /// (multicast, broadcast, unspecified).
    /// </summary>
    public long DatagramsBlocked { get; init; }

    /// <summary>UDP datagrams dropped without an answer because their source exceeded <see cref="UdpEchoOptions.PerSourceRateLimit"/>.</summary>
    public long DatagramsRateLimited { get; init; }

    /// <summary>UDP datagrams dropped because they were larger than <see cref="UdpEchoOptions.MaxDatagramSize"/> (truncated on receipt, so never echoed).</summary>
    public long DatagramsOversized { get; init; }

    /// <summary>UDP datagrams whose echo the operating system refused to send (for example no route back to the source).</summary>
    public long DatagramsSendFailed { get; init; }

    /// <summary>
    /// UDP datagrams not echoed because of a fault rule: picked by <c>drop</c>, or held back by <c>latency</c> or
    /// <c>reorder</c> when the server stopped (see <see cref="EchoServerOptions.Faults"/>).
    /// </summary>
    public long DatagramsFaultDropped { get; init; }

    /// <summary>Every UDP datagram received and not echoed: the sum of the five drop counters.</summary>
    public long DatagramsDropped => DatagramsBlocked + DatagramsRateLimited + DatagramsOversized + DatagramsSendFailed + DatagramsFaultDropped;

    /// <summary>TLS connections whose handshake failed or timed out (<see cref="ConnectionCloseReason.TlsHandshakeFailed"/>).</summary>
    public long TlsHandshakeFailures { get; init; }
}
