namespace EchoKit.Internal;

/// <summary><c>reset</c>: RST the rule's time after start, or at once (<c>after=0</c>) before any byte is echoed.</summary>
internal sealed class ResetFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    public override void OnStart(ref FaultDeadline deadline) => deadline.ResetAfter(FaultClock.Ticks(Rule.ResetAfter));
}
