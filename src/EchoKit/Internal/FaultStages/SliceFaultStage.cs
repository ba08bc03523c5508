namespace EchoKit.Internal;

/// <summary><c>slice</c>: an echo is written as pieces of a size drawn from the rule's range, with the rule's pause between two pieces.</summary>
internal sealed class SliceFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    private readonly long _pause = FaultClock.Ticks(rule.PieceDelay);

    public override int SizePiece(int size, ref FaultRandom random) => Math.Min(size, random.NextInt(Rule.MinSize, Rule.MaxSize));

    public override long PieceDue(int bytes, bool first, long now, ref FaultRandom random) => !first && _pause > 0 ? now + _pause : 0;
}
