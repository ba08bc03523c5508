namespace EchoKit.Internal;

/// <summary>
/// One datagram crossing a UDP proxy, in a pooled buffer of its direction: received into it, sent on from it, and
/// held in it when a fault holds the datagram back (<see cref="IUdpHeldDatagram"/>), so nothing is copied or allocated
/// per datagram once the pool is warm.
/// </summary>
internal sealed class UdpProxyDatagram(UdpProxyListener.Direction direction, int size) : IUdpHeldDatagram, IThreadPoolWorkItem
{
    private int _copies = 1;

    public byte[] Buffer { get; } = GC.AllocateUninitializedArray<byte>(size, pinned: true);

    public int Length { get; set; }

    /// <summary>Whose datagram it is; the direction says which of the session's sockets it leaves by.</summary>
    public UdpProxyListener.Session? Session { get; set; }

    public Span<byte> Payload => Buffer.AsSpan(0, Length);

    /// <summary>Sends it <paramref name="copies"/> times on: to the upstream, or back to the client.</summary>
    public void Send(int copies) => Session?.Send(direction.Stream, Buffer.AsSpan(0, Length), copies);

    void IUdpHeldDatagram.Hold(int copies) => _copies = copies;

    void IUdpHeldDatagram.Release() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    void IUdpHeldDatagram.DropAtStop()
    {
        direction.CountDropped();
        direction.Return(this);
    }

    void IThreadPoolWorkItem.Execute()
    {
        Send(_copies);
        _copies = 1;
        direction.Return(this);
    }
}
