using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The faults of one connection, decided at accept (<see cref="FaultPlan.Decide(long, EchoListener)"/>), and the state that applies them:
/// its random stream, the limit's count, the current slice piece, and at most one timer, which both wakes a pump
/// parked by latency or a slice pause and fires the connection's deadline (reset <c>after</c>, blackhole
/// <c>close-after</c>). Allocated only for a faulted connection, never per message; the pump is the only writer of the
/// echo state, and the timer's state is guarded by <see cref="_gate"/>.
/// </summary>
internal sealed class ConnectionFaults : IDisposable
{
    private readonly Lock _gate = new();
    private readonly long _delay;
    private readonly long _jitter;
    private readonly long _deadlineAfter;
    private FaultRandom _random;
    private SocketConnection? _owner;
    private Timer? _timer;
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
        foreach (var rule in rules)
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
                default:
                    Blackhole = true;
                    if (rule.After is { } closeAfter && !DeadlineResets)
                    {
                        _deadlineAfter = ToTimestamp(closeAfter);
                    }

                    break;
            }
        }
    }

    /// <summary>The rules this connection got, for <see cref="ConnectionAcceptedEventArgs.Faults"/>.</summary>
    public IReadOnlyList<EchoFault> Rules { get; }

    public bool HasLatency { get; }

    /// <summary>0 without a slice rule.</summary>
    public int MinPiece { get; }

    public int MaxPiece { get; }

    /// <summary>The pause between pieces, in <see cref="Stopwatch"/> ticks.</summary>
    public long SliceDelay { get; }

    /// <summary>Bytes the limit still lets through; -1 without a limit rule. Written by the pump only.</summary>
    public long LimitLeft { get; set; }

    public bool LimitResets { get; }

    public bool Blackhole { get; }

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

    /// <summary>The size of the next piece of an echo with <paramref name="left"/> bytes left: all of it without a slice rule.</summary>
    public int NextPiece(int left) => MinPiece == 0 ? left : Math.Min(left, _random.NextInt(MinPiece, MaxPiece));

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

    /// <summary>Binds the state to its pump when the connection starts; creates the one timer only if a rule needs it.</summary>
    public void Attach(SocketConnection owner)
    {
        _owner = owner;
        _live = true;
        if (!HasLatency && SliceDelay == 0 && _deadlineAfter == 0)
        {
            return;
        }

        // No execution context flows into the timer: it belongs to the connection, not to whoever accepted it.
        using (ExecutionContext.SuppressFlow())
        {
            _timer = new Timer(static s => ((ConnectionFaults)s!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
        }

        if (_deadlineAfter > 0)
        {
            lock (_gate)
            {
                var now = Stopwatch.GetTimestamp();
                _deadline = now + _deadlineAfter;
                Arm(now);
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
            var now = Stopwatch.GetTimestamp();
            if (_aborted || wakeAt <= now || _timer is null)
            {
                return false;
            }

            _wakeAt = wakeAt;
            _parked = true;
            Arm(now);
            return true;
        }
    }

    /// <summary>
    /// The connection was aborted (stop, a time limit, a reset): a parked pump must not sleep on. Returns whether it was
    /// parked, in which case the caller resumes it (once: the timer will not).
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

    /// <summary>The connection is closing: no timer callback touches it from now on. Returns <see cref="ResetOnClose"/>.</summary>
    public bool End()
    {
        lock (_gate)
        {
            _live = false;
            _parked = false;
        }

        Dispose();
        return ResetOnClose;
    }

    /// <summary>Disposes the timer; <see cref="End"/> does it when the connection closes.</summary>
    public void Dispose() => _timer?.Dispose();

    private static long ToTimestamp(TimeSpan value) => (long)Math.Ceiling(value.Ticks * (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);

    private void OnTimer()
    {
        var resume = false;
        lock (_gate)
        {
            // A callback that raced with End (or with a later re-arm) finds nothing to do.
            if (!_live)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            if (now >= _deadline)
            {
                _deadline = long.MaxValue;
                _owner!.EndByFault(DeadlineResets);
            }

            if (_parked && now >= _wakeAt)
            {
                _parked = false;
                resume = true;
            }

            // Still due: the wake-up (the timer fired a little early) or the deadline, which a wake-up must not lose.
            Arm(now);
        }

        if (resume)
        {
            _owner!.ResumeAfterFault();
        }
    }

    /// <summary>Sets the timer for the earlier of the wake-up and the deadline; the timer's milliseconds are rounded up, so it never fires early.</summary>
    private void Arm(long now)
    {
        var due = Math.Min(_parked ? _wakeAt : long.MaxValue, _deadline);
        if (due == long.MaxValue)
        {
            _timer?.Change(Timeout.Infinite, Timeout.Infinite);
            return;
        }

        var milliseconds = Math.Max(0, (long)Math.Ceiling((due - now) * 1000.0 / Stopwatch.Frequency));
        _timer?.Change(Math.Min(milliseconds, int.MaxValue - 1), Timeout.Infinite);
    }
}
