namespace EchoKit.Internal;

/// <summary><c>stall-reads</c>: once the rule's bytes were read (and echoed), the server stops reading for good, so the kernel's buffers fill and the client's writes block.</summary>
internal sealed class StallReadsFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    public override bool StopsReading(long bytesRead) => bytesRead >= Rule.StallAfter;
}
