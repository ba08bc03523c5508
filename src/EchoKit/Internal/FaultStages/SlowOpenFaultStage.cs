namespace EchoKit.Internal;

/// <summary><c>slow-open</c>: the connection's first step (its first read and greeting; a proxy's upstream connect) waits for the rule's delay.</summary>
internal sealed class SlowOpenFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    public override long OpenDelay { get; } = FaultClock.Ticks(rule.OpenDelay);
}
