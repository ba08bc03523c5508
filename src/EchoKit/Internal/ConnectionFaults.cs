using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The faults of one stream connection, decided at accept (<see cref="FaultPlan.DecideWith"/>): one
/// <see cref="StreamFaultStage"/> per rule, the connection's random stream, the echo's current piece and bytes read,
/// and its wake-ups on the <see cref="FaultClock"/>: the end of a park (a held echo, its next piece, a held close)
/// and the connection's deadline (reset <c>after</c>, blackhole <c>close-after</c>). Allocated only for a faulted
/// connection, never per message; the pump is the only caller of the stages (including <see cref="TakeLive"/>), and the
/// park and deadline are guarded by <see cref="_gate"/>. The one pump applies these for every transport
/// (<c>StreamConnection.FaultShaping.cs</c>).
/// </summary>
internal sealed class ConnectionFaults : IFaultClockTarget
{
    /// <summary>The token of the deadline's wake-up; a park's wake-up carries its generation, 1 and up.</summary>
    private const long DeadlineToken = 0;

    private readonly Lock _gate = new();
    private readonly FaultDeadline _end;
    private StreamFaultStage[] _stages;
    private FaultRandom _random;
    private StreamConnection? _owner;
    private long _generation;
    private long _deadline = long.MaxValue;
    private long _wakeAt;
    private bool _parked;
    private bool _aborted;
    private bool _live;
    private bool _resetOnClose;

    public ConnectionFaults(EchoFault[] rules, ulong connectionKey)
    {
        Rules = rules;
        _random = new FaultRandom(connectionKey ^ 0xD1B54A32D192ED03);
        _stages = Build(rules, []);
        foreach (var stage in _stages)
        {
            stage.OnStart(ref _end);
            Refuse ??= stage.Refuses;
            CloseDelay = Math.Max(CloseDelay, stage.CloseDelay);
            OpenDelay = Math.Max(OpenDelay, stage.OpenDelay);
        }
    }

    /// <summary>The rules this connection got, for <see cref="ConnectionAcceptedEventArgs.Faults"/>; <see cref="TakeLive"/> changes them.</summary>
    public IReadOnlyList<EchoFault> Rules { get; private set; }

    /// <summary>The faults came from <see cref="EchoServerOptions.FaultSelector"/>: a change of the server's rules leaves them alone.</summary>
    public bool FromSelector { get; set; }

    /// <summary>Bytes read so far, for the stages that stop reading. Written by the pump only.</summary>
    public long BytesRead { get; set; }

    /// <summary>How long the server's close is held back after the client closed, in <see cref="Stopwatch"/> ticks; 0 for no hold.</summary>
    public long CloseDelay { get; }

    /// <summary>How long the connection's first step waits once it started, in <see cref="Stopwatch"/> ticks; 0 for no wait.</summary>
    public long OpenDelay { get; }

    /// <summary>The connection ends at once, before the pump's first step (RST).</summary>
    public bool ResetsAtOnce => _end.AtOnce;

    /// <summary>Refused at accept with this close, or <see langword="null"/>.</summary>
    public EchoFaultClose? Refuse { get; }

    /// <summary>Bytes left of the piece being written. Written by the pump only.</summary>
    public int PieceLeft { get; set; }

    /// <summary>Whether the close must be abortive (RST, linger 0): a reset, or a limit with <c>then=reset</c>.</summary>
    public bool ResetOnClose
    {
        get => Volatile.Read(ref _resetOnClose);
        set => Volatile.Write(ref _resetOnClose, value);
    }

    /// <summary>Whether reading has to stop now: a stage's bytes were read (and echoed).</summary>
    public bool ReadsStalled
    {
        get
        {
            foreach (var stage in _stages)
            {
                if (stage.StopsReading(BytesRead))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// Bytes arrived: the stages shape the echo of <paramref name="received"/> (the first <see cref="FaultedEcho.Count"/>
    /// bytes are echoed, maybe changed) and may end the connection after it.
    /// </summary>
    public FaultedEcho Receive(Span<byte> received)
    {
        BytesRead += received.Length;
        var echo = new FaultedEcho(received);
        foreach (var stage in _stages)
        {
            if (echo.Count == 0)
            {
                break;
            }

            stage.OnReceived(ref echo, ref _random);
        }

        return echo;
    }

    /// <summary>
    /// Sizes the next piece of an echo with <paramref name="left"/> bytes left (into <see cref="PieceLeft"/>) and returns
    /// when it may be written (a <see cref="Stopwatch"/> timestamp; 0 = now). <paramref name="first"/>: the echo's first
    /// piece, whose bytes arrived at <paramref name="now"/>.
    /// </summary>
    public long NextPiece(int left, bool first, long now)
    {
        var size = left;
        foreach (var stage in _stages)
        {
            size = stage.SizePiece(size, ref _random);
        }

        PieceLeft = size;
        var due = 0L;
        foreach (var stage in _stages)
        {
            due = Math.Max(due, stage.PieceDue(size, first, now, ref _random));
        }

        return due;
    }

    /// <summary>
    /// A change of the server's rules reaches this connection at its next echo: the per-echo rules (<see cref="FaultTypeInfo.AppliesLive"/>)
    /// become <paramref name="live"/>, the rest (limit, reset, the close) stay as decided at accept; a rule that did not
    /// change keeps its stage and state. Returns the rules that are new to it, for the metric. Called by the pump, between two echoes.
    /// </summary>
    public EchoFault[] TakeLive(EchoFault[] live)
    {
        var added = live.Where(r => !Rules.Contains(r)).ToArray();
        _stages = Build(live, [.. _stages.Where(s => !FaultTypes.Of(s.Rule.Type).AppliesLive || live.Contains(s.Rule))]);
        Rules = [.. Rules.Where(r => !FaultTypes.Of(r.Type).AppliesLive), .. live];
        return added;
    }

    /// <summary>Binds the state to its pump when the connection starts, and schedules its deadline if a rule has one.</summary>
    public void Attach(StreamConnection owner)
    {
        _owner = owner;
        _live = true;
        if (_end.After > 0)
        {
            lock (_gate)
            {
                _deadline = Stopwatch.GetTimestamp() + _end.After;
                FaultClock.Schedule(this, DeadlineToken, _deadline);
            }
        }
    }

    /// <summary>
    /// Parks the pump, holding its buffer, until <paramref name="wakeAt"/> (a <see cref="Stopwatch"/> timestamp).
    /// Returns <see langword="false"/> when the pump should go on at once: the time has come, or the connection was aborted.
    /// </summary>
    public bool Park(long wakeAt)
    {
        lock (_gate)
        {
            if (_aborted || wakeAt <= Stopwatch.GetTimestamp())
            {
                return false;
            }

            _wakeAt = wakeAt;
            _parked = true;
            if (wakeAt != long.MaxValue)
            {
                // A new generation: a wake-up scheduled for an earlier park that an abort ended finds nothing to do.
                FaultClock.Schedule(this, ++_generation, wakeAt);
            }

            return true;
        }
    }

    /// <summary>
    /// The connection was aborted (stop, a time limit, a reset): a parked pump must not sleep on. Returns whether it was
    /// parked, in which case the caller resumes it (once: the clock will not).
    /// </summary>
    public bool Wake()
    {
        lock (_gate)
        {
            _aborted = true;
            if (!_parked)
            {
                return false;
            }

            _parked = false;
            return true;
        }
    }

    /// <summary>The connection is closing: no wake-up touches it from now on (one still scheduled finds it ended). Returns <see cref="ResetOnClose"/>.</summary>
    public bool End()
    {
        lock (_gate)
        {
            _live = false;
            _parked = false;
        }

        return ResetOnClose;
    }

    /// <summary>
    /// The <see cref="FaultClock"/>'s wake-up, on its thread: the deadline (RST or FIN), or the end of a park, whose
    /// pump goes on right there (<see cref="StreamConnection.ResumeAfterFault"/>). Both are quick: a close, or a
    /// non-blocking send before the pump parks or waits again.
    /// </summary>
    void IFaultClockTarget.OnClock(long token)
    {
        var resume = false;
        lock (_gate)
        {
            // A wake-up that raced with End, or one of a park that an abort already ended, finds nothing to do.
            if (!_live)
            {
                return;
            }

            if (token == DeadlineToken)
            {
                _deadline = long.MaxValue;
                _owner!.EndByFault(_end.Resets);
            }
            else if (token == _generation && _parked)
            {
                _parked = false;
                resume = true;
            }
        }

        if (resume)
        {
            _owner!.ResumeAfterFault();
        }
    }

    /// <summary>The stages of <paramref name="rules"/> after <paramref name="kept"/> ones, in <see cref="StreamFaultStage.ReceiveOrder"/> (stable).</summary>
    private static StreamFaultStage[] Build(IEnumerable<EchoFault> rules, StreamFaultStage[] kept)
    {
        var stages = kept.ToList();
        foreach (var rule in rules)
        {
            if (!stages.Exists(s => s.Rule.Equals(rule)) && FaultTypes.Of(rule.Type).StreamStage(rule) is { } stage)
            {
                stages.Add(stage);
            }
        }

        return [.. stages.OrderBy(s => s.ReceiveOrder)];
    }
}
