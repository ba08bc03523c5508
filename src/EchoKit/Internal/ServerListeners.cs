namespace EchoKit.Internal;

/// <summary>
/// The one list of a server's listeners, stream and UDP, in the order of <see cref="EchoServer.EndPoints"/>. Filled
/// while starting and published at once, before any listener accepts; read-only after that.
/// </summary>
internal sealed class ServerListeners
{
    private volatile Snapshot _published = new([], [], [], []);

    /// <summary>TCP, TLS and Unix socket listeners.</summary>
    public IReadOnlyList<EchoListener> Stream => _published.Stream;

    public IReadOnlyList<UdpEchoListener> Udp => _published.Udp;

    /// <summary>Every UDP listener whose datagrams are counted: the echo listeners and a fault proxy's.</summary>
    public IReadOnlyList<IUdpCounting> UdpCounting => _published.UdpCounting;

    /// <summary>Every listener with its transport, in the order of <see cref="EchoServer.EndPoints"/>.</summary>
    public IReadOnlyList<EchoListenerInfo> Infos => _published.Infos;

    public void Publish(IReadOnlyList<EchoListener> stream, IReadOnlyList<UdpEchoListener> udp, IReadOnlyList<EchoListenerInfo> infos, IReadOnlyList<IUdpCounting> udpProxies) =>
        _published = new Snapshot([.. stream], [.. udp], [.. infos], [.. udp, .. udpProxies]);

    private sealed record Snapshot(EchoListener[] Stream, UdpEchoListener[] Udp, EchoListenerInfo[] Infos, IUdpCounting[] UdpCounting);
}
