namespace EchoKit.Internal;

/// <summary>
/// One datagram on its way through the stages of a <see cref="UdpFaultPath"/>: what a stage reads (its key, its
/// bytes, whether it overtakes a held one) and what the stages decide (drop, copies, delay, a wait for its source's
/// next datagram). Left as made, it is sent at once, once, unchanged.
/// </summary>
internal ref struct Datagram(ulong key, Span<byte> payload, bool overtakes)
{
    /// <summary>What every draw about it comes from: the seed, its source's first-seen ordinal and its number from that source, mixed.</summary>
    public readonly ulong Key = key;

    /// <summary>Its bytes, which a stage may change but never shorten or lengthen.</summary>
    public readonly Span<byte> Payload = payload;

    /// <summary>It overtakes a datagram of its source that was waiting for it (<see cref="WaitForNext"/>), so it does not wait in turn.</summary>
    public readonly bool Overtakes = overtakes;

    /// <summary>It is not sent at all; no later stage sees it.</summary>
    public bool Drop;

    /// <summary>How many times it is sent.</summary>
    public int Copies = 1;

    /// <summary>How long it is held before it is sent, in <see cref="System.Diagnostics.Stopwatch"/> ticks; 0: not at all.</summary>
    public long Delay;

    /// <summary>The longest it waits for the next datagram of its source, which then goes first, in <see cref="System.Diagnostics.Stopwatch"/> ticks; 0: it does not wait.</summary>
    public long WaitForNext;
}
