using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

/// <summary>
/// Live counters of a running load, for a progress display: pass one as <see cref="EchoLoadOptions.Progress"/> or
/// <see cref="UdpEchoLoadOptions.Progress"/> and read it from any thread while the run goes on. The load keeps no
/// shared counter on its hot path: each connection or flow counts in its own fields, and every read of a property
/// here sums them (so a read costs one pass over the connections; sample it a few times a second, not per message).
/// Counts cover the whole run so far, warm-up included; they are 0 before the run starts. One run at a time: a new
/// run given the same instance replaces the previous one.
/// </summary>
public sealed class LoadProgress
{
    private volatile ILiveLoadCounters? _run;

    /// <summary>Messages (datagrams, for UDP) echoed and verified so far.</summary>
    public long Messages => _run?.Messages ?? 0;

    /// <summary>Payload bytes echoed and verified so far (one direction): <see cref="Messages"/> × the message size.</summary>
    public long Bytes => _run is { } run ? run.Messages * run.MessageSize : 0;

    /// <summary>Messages sent so far (UDP); for TCP, the same as <see cref="Messages"/> (a TCP message is never lost).</summary>
    public long Sent => _run is { } run ? run.Sent : 0;

    /// <summary>Connections or flows that failed so far (including those that could not be opened).</summary>
    public long Errors => _run?.Errors ?? 0;

    /// <summary>UDP datagrams not echoed within the loss timeout so far; always 0 for TCP.</summary>
    public long Lost => _run?.Lost ?? 0;

    internal void Attach(ILiveLoadCounters run) => _run = run;
}
