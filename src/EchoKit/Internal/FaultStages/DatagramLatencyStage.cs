namespace EchoKit.Internal;

/// <summary><c>latency</c>: the datagram is echoed <c>delay</c> ± <c>jitter</c> after it arrived (jitter drawn per datagram, never below zero).</summary>
internal sealed class DatagramLatencyStage : IDatagramStage
{
    private const ulong JitterSalt = 0xD1B54A32D192ED03;

    /// <inheritdoc/>
    public EchoFaultType Type => EchoFaultType.Latency;

    /// <inheritdoc/>
    public bool Apply(EchoFault rule, ref Datagram datagram)
    {
        var delay = FaultClock.Ticks(rule.Delay);
        if (rule.Jitter > TimeSpan.Zero)
        {
            var random = new FaultRandom(datagram.Key ^ JitterSalt);
            delay += (long)(((random.NextDouble() * 2) - 1) * FaultClock.Ticks(rule.Jitter));
        }

        datagram.Delay = Math.Max(0, delay);
        return datagram.Delay > 0;
    }
}
