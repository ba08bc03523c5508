namespace EchoKit.Internal;

/// <summary>
/// A datagram a <see cref="UdpFaultPath"/> may hold back (<c>latency</c>, <c>reorder</c>): whatever received it, with
/// its buffer (a listener's slot; a proxy's would do as well). Nothing is copied, so a held datagram keeps its buffer.
/// </summary>
internal interface IUdpHeldDatagram
{
    /// <summary>Called under the path's lock as the datagram is held: the holder gives up the receive duty and will send <paramref name="copies"/> copies once released.</summary>
    void Hold(int copies);

    /// <summary>The hold is over: the holder sends its datagram (queued to the thread pool; never run inline).</summary>
    void Release();

    /// <summary>The path stopped while the datagram was held: it is dropped, and the holder ends.</summary>
    void DropAtStop();
}
