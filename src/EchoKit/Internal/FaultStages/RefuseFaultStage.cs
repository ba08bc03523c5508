namespace EchoKit.Internal;

/// <summary><c>refuse</c>: the connection is turned away at accept, before any byte: RST (<c>mode=reset</c>) or FIN (<c>mode=close</c>).</summary>
internal sealed class RefuseFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    public override EchoFaultClose? Refuses => Rule.CloseMode;
}
