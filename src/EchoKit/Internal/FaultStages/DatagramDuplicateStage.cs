namespace EchoKit.Internal;

/// <summary><c>duplicate</c>: the datagram is echoed twice, from the same buffer (it counts as echoed once).</summary>
internal sealed class DatagramDuplicateStage : IDatagramStage
{
    /// <inheritdoc/>
    public EchoFaultType Type => EchoFaultType.Duplicate;

    /// <inheritdoc/>
    public bool Apply(EchoFault rule, ref Datagram datagram)
    {
        datagram.Copies = 2;
        return true;
    }
}
