namespace EchoKit.LoadGenerator;

/// <summary>
/// What a UDP echo load measured. Rates and latency cover the measurement window; the datagram counts (sent,
/// verified, lost, out of window, mismatched) cover the whole run, warm-up and drain included, so that every
/// datagram sent is accounted for: sent = verified + lost + mismatched (with an intact header) + those of failed flows.
/// </summary>
public sealed class UdpEchoLoadResult
{
    /// <summary>Datagrams echoed and verified within the measurement window.</summary>
    public long Messages { get; init; }

    /// <summary>Payload bytes echoed within the measurement window (each byte counted once).</summary>
    public long Bytes { get; init; }

    /// <summary>The real length of the measurement window.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Round-trip latency of each datagram echoed within the window, from handing it to the socket to receiving its echo.</summary>
    public LatencySummary Latency { get; init; }

    /// <summary>Flows whose socket could be opened and connected.</summary>
    public int FlowsOpened { get; init; }

    /// <summary>Datagrams sent over the whole run.</summary>
    public long DatagramsSent { get; init; }

    /// <summary>Datagrams echoed back intact over the whole run.</summary>
    public long MessagesVerified { get; init; }

    /// <summary>Datagrams not echoed within <see cref="UdpEchoLoadOptions.LossTimeout"/> (lossy networks and rate limits are not errors).</summary>
    public long DatagramsLost { get; init; }

    /// <summary>Intact echoes that matched no datagram in flight: duplicates, and echoes that came after their loss timeout (already counted as lost).</summary>
    public long OutOfWindow { get; init; }

    /// <summary>Echoes whose bytes or length differ from any datagram sent, or that were never sent.</summary>
    public long Mismatches { get; init; }

    /// <summary>Flows that could not be opened or that failed (for example nothing listening: ICMP port unreachable).</summary>
    public long Errors { get; init; }

    /// <summary>The first error seen, for diagnostics; <see langword="null"/> when none.</summary>
    public string? FirstError { get; init; }

    /// <summary>Lost datagrams as a percentage of those sent; 0 when none were sent.</summary>
    public double LossPercent => DatagramsSent > 0 ? DatagramsLost * 100.0 / DatagramsSent : 0;

    /// <summary>Datagrams per second echoed within the window.</summary>
    public double MessagesPerSecond => Elapsed > TimeSpan.Zero ? Messages / Elapsed.TotalSeconds : 0;

    /// <summary>Echoed MiB per second within the window (payload in one direction).</summary>
    public double MiBPerSecond => Elapsed > TimeSpan.Zero ? Bytes / 1048576.0 / Elapsed.TotalSeconds : 0;
}
