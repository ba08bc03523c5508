namespace EchoKit.Internal;

/// <summary><c>blackhole</c>: reads and discards (the client's writes succeed) and echoes nothing; with <c>close-after</c>, FIN that long after start.</summary>
internal sealed class BlackholeFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    /// <summary>First: what it discards, no other stage counts or changes.</summary>
    public override int ReceiveOrder => -1;

    public override void OnStart(ref FaultDeadline deadline)
    {
        if (Rule.CloseAfter is { } closeAfter)
        {
            deadline.CloseAfter(FaultClock.Ticks(closeAfter));
        }
    }

    public override void OnReceived(ref FaultedEcho echo, ref FaultRandom random) => echo.Count = 0;
}
