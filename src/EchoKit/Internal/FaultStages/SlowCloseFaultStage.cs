namespace EchoKit.Internal;

/// <summary><c>slow-close</c>: when the client closes, the server's close (FIN; TLS: close_notify and FIN) is held back for the rule's delay.</summary>
internal sealed class SlowCloseFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    public override long CloseDelay { get; } = FaultClock.Ticks(rule.CloseDelay);
}
