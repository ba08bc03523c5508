using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// <c>bandwidth</c>: a clock that advances by each piece's share of a second at the rule's rate; a piece waits for it.
/// Pieces are at most 1/50 s worth, so the rate holds over short spans too.
/// </summary>
internal sealed class BandwidthFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    private readonly long _rate = rule.Rate;
    private long _next;

    public override int SizePiece(int size, ref FaultRandom random) => (int)Math.Min(size, Math.Max(1, _rate / 50));

    /// <summary>
    /// Books the piece. Up to 1/10 s of lateness is made up (a wake-up or the machine ran late), so the rate holds on a
    /// loaded machine; a longer pause is not banked, so the burst after it is at most 1/10 s worth.
    /// </summary>
    public override long PieceDue(int bytes, bool first, long now, ref FaultRandom random)
    {
        var start = Math.Max(now - Stopwatch.Frequency / 10, _next);
        _next = start + (long)(bytes * (double)Stopwatch.Frequency / _rate);
        return start > now ? start : 0;
    }
}
