namespace EchoKit.Internal;

/// <summary>Datagram and byte totals of a UDP listener (or one of its slots).</summary>
internal struct UdpCounters
{
    public long Received;
    public long Echoed;
    public long Blocked;
    public long RateLimited;
    public long Oversized;
    public long SendFailed;

    /// <summary>Not echoed because of a fault rule: picked by <c>drop</c>, or held back (latency, reorder) when the listener stopped.</summary>
    public long FaultDropped;
    public long BytesReceived;
    public long BytesSent;

    /// <summary>
    /// Reads a slot's counters while the slot may be writing them: each outcome (echoed, dropped) before the datagrams
    /// received and the bytes sent before the bytes received, since a slot counts a receive before its outcome; so the
    /// copy never shows more outcomes than datagrams received.
    /// </summary>
    public static UdpCounters Read(ref UdpCounters slot)
    {
        var copy = default(UdpCounters);
        copy.Echoed = Volatile.Read(ref slot.Echoed);
        copy.BytesSent = Volatile.Read(ref slot.BytesSent);
        copy.Blocked = Volatile.Read(ref slot.Blocked);
        copy.RateLimited = Volatile.Read(ref slot.RateLimited);
        copy.Oversized = Volatile.Read(ref slot.Oversized);
        copy.SendFailed = Volatile.Read(ref slot.SendFailed);
        copy.FaultDropped = Volatile.Read(ref slot.FaultDropped);
        copy.Received = Volatile.Read(ref slot.Received);
        copy.BytesReceived = Volatile.Read(ref slot.BytesReceived);
        return copy;
    }

    public void Add(in UdpCounters other)
    {
        Received += other.Received;
        Echoed += other.Echoed;
        Blocked += other.Blocked;
        RateLimited += other.RateLimited;
        Oversized += other.Oversized;
        SendFailed += other.SendFailed;
        FaultDropped += other.FaultDropped;
        BytesReceived += other.BytesReceived;
        BytesSent += other.BytesSent;
    }
}
