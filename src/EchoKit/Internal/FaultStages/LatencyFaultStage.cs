namespace EchoKit.Internal;

/// <summary><c>latency</c>: each echo's first piece is written delay ± jitter after its bytes arrived (drawn per echo, never before they arrived); later bytes never overtake earlier ones.</summary>
internal sealed class LatencyFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    private readonly long _delay = FaultClock.Ticks(rule.Delay);
    private readonly long _jitter = FaultClock.Ticks(rule.Jitter);

    public override long PieceDue(int bytes, bool first, long now, ref FaultRandom random)
    {
        if (!first)
        {
            return 0;
        }

        var delay = _delay;
        if (_jitter > 0)
        {
            delay += (long)((random.NextDouble() * 2 - 1) * _jitter);
        }

        return now + Math.Max(0, delay);
    }
}
