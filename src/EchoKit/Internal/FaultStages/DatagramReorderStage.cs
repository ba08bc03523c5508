namespace EchoKit.Internal;

/// <summary>
/// <c>reorder</c>: the datagram waits for the next one of its source, which goes first, or for <c>hold</c> at most. A
/// datagram that overtakes a waiting one does not wait in turn (with toxicity 1, datagrams swap in pairs: B A D C ...).
/// </summary>
internal sealed class DatagramReorderStage : IDatagramStage
{
    /// <inheritdoc/>
    public EchoFaultType Type => EchoFaultType.Reorder;

    /// <inheritdoc/>
    public bool Apply(EchoFault rule, ref Datagram datagram)
    {
        if (datagram.Overtakes)
        {
            return false;
        }

        datagram.WaitForNext = Math.Max(1, FaultClock.Ticks(rule.Hold));
        return true;
    }
}
