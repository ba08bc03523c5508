using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

/// <summary>
/// What a UDP echo load measured. Rates and latency cover the measurement window; the datagram counts (sent,
/// verified, lost, out of window, mismatched) cover the whole run, warm-up and drain included, so that every
/// datagram sent is accounted for: sent = verified + lost + mismatched (with an intact header) + those of failed flows.
/// </summary>
public sealed class UdpEchoLoadResult : EchoMessagesResult
{
    internal UdpEchoLoadResult(TimeSpan elapsed, LoadTally tally, long messages, int messageSize)
        : base(elapsed, tally, messages, messageSize)
    {
    }

    /// <summary>Flows whose socket could be opened and connected.</summary>
    public int FlowsOpened { get; init; }

    /// <summary>Datagrams sent over the whole run.</summary>
    public long DatagramsSent { get; init; }

    /// <summary>Datagrams not echoed within <see cref="UdpEchoLoadOptions.LossTimeout"/> (lossy networks and rate limits are not errors).</summary>
    public long DatagramsLost { get; init; }

    /// <summary>Intact echoes that matched no datagram in flight: duplicates, and echoes that came after their loss timeout (already counted as lost).</summary>
    public long OutOfWindow { get; init; }

    /// <summary>Lost datagrams as a percentage of those sent; 0 when none were sent.</summary>
    public double LossPercent => DatagramsSent > 0 ? DatagramsLost * 100.0 / DatagramsSent : 0;
}
