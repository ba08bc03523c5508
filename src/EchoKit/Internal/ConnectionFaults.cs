using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The faults of one stream connection, decided at accept (<see cref="FaultPlan.Decide"/>), and the state that applies
/// them: its random stream, the limit's count, the current piece, the bandwidth clock, the corruption countdown, and
/// its wake-ups on the <see cref="FaultClock"/>: the end of a park (latency, slice pause, bandwidth, slow-close) and the
/// connection's deadline (reset <c>after</c>, blackhole <c>close-after</c>). Allocated only for a faulted connection,
/// never per message; the pump is the only writer of the echo state (including <see cref="TakeLive"/>), and the park
/// and deadline are guarded by <see cref="_gate"/>. The pump of each transport (TCP/Unix, TLS) applies these to its own writes.
/// </summary>
internal sealed class ConnectionFaults : IFaultClockTarget
{
    /// <summary>The token of the deadline's wake-up; a park's wake-up carries its generation, 1 and up.</summary>
    private const long DeadlineToken = 0;

    private readonly Lock _gate = new();
    private readonly long _deadlineAfter;
    private long _delay;
    private long _jitter;
    private long _bandwidthNext;
    private long _corruptLeft;
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
        LimitLeft = -1;
        StallAfter = -1;
        foreach (var rule in rules)
        {
            switch (rule.Type)
            {
                case EchoFaultType.Latency or EchoFaultType.Slice or EchoFaultType.Bandwidth or EchoFaultType.Corrupt or EchoFaultType.StallReads:
                    TakeLiveRule(rule);
                    break;
                case EchoFaultType.SlowClose:
                    SlowCloseDelay = ToTimestamp(rule.Delay);
                    break;
                case EchoFaultType.Limit:
                    LimitLeft = rule.Bytes;
                    LimitResets = rule.CloseMode == EchoFaultClose.Reset;
                    break;
                case EchoFaultType.Reset:
                    ResetsAtOnce = rule.After == TimeSpan.Zero;
                    DeadlineResets = true;
                    _deadlineAfter = ResetsAtOnce ? 0 : ToTimestamp(rule.After!.Value);
                    break;
                case EchoFaultType.Refuse:
                    Refuse = rule.CloseMode;
                    break;
                case EchoFaultType.Blackhole:
                    TakeLiveRule(rule);
                    if (rule.After is { } closeAfter && !DeadlineResets)
                    {
                        _deadlineAfter = ToTimestamp(closeAfter);
                    }

                    break;
            }
        }
    }

    /// <summary>The rules this connection got, for <see cref="ConnectionAcceptedEventArgs.Faults"/>; <see cref="TakeLive"/> changes them.</summary>
    public IReadOnlyList<EchoFault> Rules { get; private set; }

    /// <summary>The faults came from <see cref="EchoServerOptions.FaultSelector"/>: a change of the server's rules leaves them alone.</summary>
    public bool FromSelector { get; set; }

    public bool HasLatency { get; private set; }

    /// <summary>0 without a slice rule.</summary>
    public int MinPiece { get; private set; }

    public int MaxPiece { get; private set; }

    /// <summary>The pause between pieces, in <see cref="Stopwatch"/> ticks.</summary>
    public long SliceDelay { get; private set; }

    /// <summary>Bytes per second of a bandwidth rule; 0 without one.</summary>
    public long Rate { get; private set; }

    /// <summary>The mean bytes between two flipped bits; 0 without a corrupt rule.</summary>
    public long CorruptEvery { get; private set; }

    /// <summary>Bytes read before reading stops; -1 without a stall-reads rule.</summary>
    public long StallAfter { get; private set; }

    /// <summary>Bytes read so far, for <see cref="StallAfter"/>. Written by the pump only.</summary>
    public long BytesRead { get; set; }

    /// <summary>How long the server's FIN is held back after the client closed, in <see cref="Stopwatch"/> ticks; 0 without a slow-close rule.</summary>
    public long SlowCloseDelay { get; }

    /// <summary>Bytes the limit still lets through; -1 without a limit rule. Written by the pump only.</summary>
    public long LimitLeft { get; set; }

    public bool LimitResets { get; }

    public bool Blackhole { get; private set; }

    /// <summary>A <c>reset</c> with <c>after=0</c>: RST before the pump's first step.</summary>
    public bool ResetsAtOnce { get; }

    /// <summary>The deadline is a reset (RST); otherwise, a blackhole's close (FIN).</summary>
    public bool DeadlineResets { get; }

    public EchoFaultClose? Refuse { get; }

    /// <summary>Bytes left of the piece being written. Written by the pump only.</summary>
    public int PieceLeft { get; set; }

    /// <summary>Whether the close must be abortive (RST, linger 0): a reset, or a limit with <c>then=reset</c>.</summary>
    public bool ResetOnClose
    {
        get => Volatile.Read(ref _resetOnClose);
        set => Volatile.Write(ref _resetOnClose, value);
    }

    /// <summary>Whether reading has to stop now: a stall-reads rule's bytes were read (and echoed).</summary>
    public bool ReadsStalled => StallAfter >= 0 && BytesRead >= StallAfter;

    /// <summary>Whether a running connection takes up rules of <paramref name="type"/> at its next echo when the server's rules change.</summary>
    public static bool AppliesLive(EchoFaultType type) =>
        type is EchoFaultType.Latency or EchoFaultType.Bandwidth or EchoFaultType.Slice or EchoFaultType.Blackhole
            or EchoFaultType.Corrupt or EchoFaultType.StallReads;

    /// <summary>
    /// The size of the next piece of an echo with <paramref name="left"/> bytes left: all of it without a slice or
    /// bandwidth rule; a bandwidth rule writes at most 1/50 s worth at a time, so the rate holds over short spans too.
    /// </summary>
    public int NextPiece(int left)
    {
        var piece = MinPiece == 0 ? left : Math.Min(left, _random.NextInt(MinPiece, MaxPiece));
        return Rate == 0 ? piece : (int)Math.Min(piece, Math.Max(1, Rate / 50));
    }

    /// <summary>
    /// When the next piece of <paramref name="bytes"/> may be written under the bandwidth rule (a <see cref="Stopwatch"/>
    /// timestamp; 0 = now), and books it: the clock advances by the piece's share of a second, banking at most 1/10 s of idle time.
    /// </summary>
    public long BandwidthDue(int bytes)
    {
        if (Rate == 0)
        {
            return 0;
        }

        // Up to 1/10 s of lateness is made up (a wake-up or the machine ran late), so the rate holds on a loaded
        // machine; a longer pause is not banked, so the burst after it is at most 1/10 s worth.
        var now = Stopwatch.GetTimestamp();
        var start = Math.Max(now - Stopwatch.Frequency / 10, _bandwidthNext);
        _bandwidthNext = start + (long)(bytes * (double)Stopwatch.Frequency / Rate);
        return start > now ? start : 0;
    }

    /// <summary>Flips one bit in roughly every <see cref="CorruptEvery"/> bytes of <paramref name="echo"/>, at positions drawn from the seed.</summary>
    public void Corrupt(Span<byte> echo)
    {
        if (CorruptEvery == 0)
        {
            return;
        }

        var at = 0L;
        while (true)
        {
            if (_corruptLeft <= 0)
            {
                // Uniform from 1 to 2 * every - 1: the gaps average every bytes, and no two flips hit one byte.
                _corruptLeft = CorruptEvery == 1 ? 1 : 1 + (long)(_random.NextDouble() * (2 * CorruptEvery - 1));
            }

            if (at + _corruptLeft > echo.Length)
            {
                _corruptLeft -= echo.Length - at;
                return;
            }

            at += _corruptLeft;
            _corruptLeft = 0;
            echo[(int)at - 1] ^= (byte)(1 << _random.NextInt(0, 7));
        }
    }

    /// <summary>
    /// A change of the server's rules reaches this connection at its next echo: the per-echo rules (<see cref="AppliesLive"/>)
    /// become <paramref name="live"/>, the rest (limit, reset, slow-close) stay as decided at accept. Returns the rules
    /// that are new to it, for the metric. Called by the pump, between two echoes.
    /// </summary>
    public EchoFault[] TakeLive(EchoFault[] live)
    {
        var added = live.Where(r => !Rules.Contains(r)).ToArray();
        HasLatency = false;
        MinPiece = MaxPiece = 0;
        SliceDelay = Rate = CorruptEvery = 0;
        StallAfter = -1;
        Blackhole = false;
        foreach (var rule in live)
        {
            TakeLiveRule(rule);
        }

        Rules = [.. Rules.Where(r => !AppliesLive(r.Type)), .. live];
        return added;
    }

    /// <summary>When the echo of bytes that arrived at <paramref name="arrived"/> is due: delay ± jitter, never before they arrived.</summary>
    public long LatencyDue(long arrived)
    {
        var delay = _delay;
        if (_jitter > 0)
        {
            delay += (long)((_random.NextDouble() * 2 - 1) * _jitter);
        }

        return arrived + Math.Max(0, delay);
    }

    /// <summary>Binds the state to its pump when the connection starts, and schedules its deadline if a rule has one.</summary>
    public void Attach(StreamConnection owner)
    {
        _owner = owner;
        _live = true;
        if (_deadlineAfter > 0)
        {
            lock (_gate)
            {
                _deadline = Stopwatch.GetTimestamp() + _deadlineAfter;
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
    /// The <see cref="FaultClock"/>'s wake-up, on its thread: the deadline (RST or FIN), or the end of a park, whose pump
    /// the owner hands to the thread pool. Both are quick: a close, or a work item.
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
                _owner!.EndByFault(DeadlineResets);
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

    private void TakeLiveRule(EchoFault rule)
    {
        switch (rule.Type)
        {
            case EchoFaultType.Latency:
                HasLatency = true;
                _delay = ToTimestamp(rule.Delay);
                _jitter = ToTimestamp(rule.Jitter);
                break;
            case EchoFaultType.Slice:
                MinPiece = rule.MinSize;
                MaxPiece = rule.MaxSize;
                SliceDelay = ToTimestamp(rule.Delay);
                break;
            case EchoFaultType.Bandwidth:
                Rate = rule.Rate;
                break;
            case EchoFaultType.Corrupt:
                CorruptEvery = rule.Bytes;
                break;
            case EchoFaultType.StallReads:
                StallAfter = rule.Bytes;
                break;
            case EchoFaultType.Blackhole:
                Blackhole = true;
                break;
        }
    }

    private static long ToTimestamp(TimeSpan value) => (long)Math.Ceiling(value.Ticks * (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);
}
