namespace EchoKit.Internal;

/// <summary><c>limit</c>: echoes the rule's bytes, then ends the connection: FIN after a drain (<c>then=close</c>) or RST (<c>then=reset</c>).</summary>
internal sealed class LimitFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    private long _left = rule.ByteLimit;

    public override void OnReceived(ref FaultedEcho echo, ref FaultRandom random)
    {
        if (echo.Count >= _left)
        {
            echo.Count = (int)_left;
            echo.End = Rule.CloseMode == EchoFaultClose.Reset ? FaultEnd.Reset : FaultEnd.Close;
        }

        _left -= echo.Count;
    }
}
