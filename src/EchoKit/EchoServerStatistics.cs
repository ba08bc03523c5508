namespace EchoKit;

/// <summary>
/// A snapshot of an <see cref="EchoServer"/>'s counters, taken at one instant by <see cref="EchoServer.GetStatistics"/>.
/// </summary>
/// <param name="ActiveConnections">Connections being served now.</param>
/// <param name="AcceptedConnections">Connections accepted and served since the server started.</param>
/// <param name="RejectedConnections">Connections closed at once since the server started (over <see cref="EchoServerOptions.MaxConnections"/>, or while stopping).</param>
/// <param name="BytesReceived">Bytes received from all clients since the server started.</param>
/// <param name="BytesSent">Bytes echoed to all clients since the server started.</param>
public readonly record struct EchoServerStatistics(
    long ActiveConnections,
    long AcceptedConnections,
    long RejectedConnections,
    long BytesReceived,
    long BytesSent);
