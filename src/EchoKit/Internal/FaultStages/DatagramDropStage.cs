namespace EchoKit.Internal;

/// <summary><c>drop</c>: the datagram is not echoed.</summary>
internal sealed class DatagramDropStage : IDatagramStage
{
    /// <inheritdoc/>
    public EchoFaultType Type => EchoFaultType.Drop;

    /// <inheritdoc/>
    public bool Apply(EchoFault rule, ref Datagram datagram)
    {
        datagram.Drop = true;
        return true;
    }
}
