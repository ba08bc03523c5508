using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>A datagram a UDP fault rule holds back (<c>latency</c>, <c>reorder</c>): its slot, with its pooled buffer.</summary>
internal interface IUdpHeldDatagram
{
    /// <summary>Called under <see cref="UdpFaults"/>' lock as the datagram is held: the slot gives up the receive duty and will send <paramref name="copies"/> copies once released.</summary>
    void Hold(int copies);

    /// <summary>The hold is over: the slot sends its datagram (queued to the thread pool; never run inline).</summary>
    void Release();

    /// <summary>The listener stopped while the datagram was held: it is dropped, and the slot ends.</summary>
    void DropAtStop();
}

/// <summary>What a UDP listener does with one datagram after its fault rules.</summary>
internal enum UdpFaultOutcome
{
    /// <summary>Echo it now (<see cref="UdpFaultDecision.Copies"/> times).</summary>
    Send,

    /// <summary>A <c>drop</c> rule picked it: no echo.</summary>
    Dropped,

    /// <summary>Held back by <c>latency</c> or <c>reorder</c>: its slot gave up the receive duty and sends it when released.</summary>
    Held,

    /// <summary>The listener is stopping: nothing more is held.</summary>
    Stopped,
}

/// <summary>What the rules decided for one datagram, and what they did to it.</summary>
internal struct UdpFaultDecision
{
    /// <summary>The datagram's key: the seed, its source's first-seen ordinal and its number from that source, mixed.</summary>
    public ulong Key;

    public bool Drop;

    /// <summary>How many times the datagram is echoed: 2 under <c>duplicate</c>, else 1.</summary>
    public int Copies;

    /// <summary>The longest a <c>reorder</c> holds it, in <see cref="Stopwatch"/> ticks; 0 without one.</summary>
    public long ReorderHold;

    /// <summary>The delay of its echo (<c>latency</c>, jitter drawn), in <see cref="Stopwatch"/> ticks; -1 without one.</summary>
    public long Latency;

    /// <summary>The mean bytes per flipped bit of a <c>corrupt</c>; 0 without one.</summary>
    public long CorruptEvery;

    /// <summary>Bits flipped (one per byte at most).</summary>
    public int Flipped;

    /// <summary>It was held for a <c>latency</c> (a delay above zero).</summary>
    public bool Delayed;

    /// <summary>It was held back for a <c>reorder</c> (no other datagram of its source was held at the time).</summary>
    public bool Reordered;
}

/// <summary>
/// The UDP fault rules of one listener (see docs/FAULTS.md): the rules of the set in force that fit it, cached per set;
/// the sources it saw (<see cref="UdpFaultSources"/>), whose first-seen ordinals and per-source datagram numbers key
/// every draw, so a decision depends only on the seed, the rules and the order of datagrams per source; and the
/// datagrams held back by <c>latency</c> or <c>reorder</c>, each in its own receive slot and pooled buffer, with one
/// wake-up on the <see cref="FaultClock"/> for the earliest of them. A held datagram holds its slot, so at most <see cref="UdpEchoOptions.DatagramsInFlight"/> are
/// held; when every slot is held the listener receives nothing more until one is released, and what arrives meanwhile
/// waits in the kernel's receive buffer (dropped by the kernel when that is full, as on a congested link). That keeps
/// memory at the slots' buffers and never skips a fault: under <c>latency</c> every echo is delayed, and the rate is
/// at most DatagramsInFlight per delay. When the listener stops, held datagrams are dropped (counted in
/// <see cref="EchoServerStatistics.DatagramsFaultDropped"/>), so a stop never waits for them. Nothing is allocated per
/// datagram: the table and the held list are made once, when the first datagram meets a rule.
/// </summary>
internal sealed class UdpFaults : IFaultClockTarget, IThreadPoolWorkItem
{
    private const ulong JitterSalt = 0xD1B54A32D192ED03;
    private const ulong CorruptSalt = 0x8CB92BA72F3D8DD7;
    private const ulong UdpSalt = 0x5544_5046_4155_4C54;

    private readonly Lock _gate = new();
    private readonly IEchoListener _listener;
    private readonly int _seed;
    private readonly int _sourceCapacity;
    private readonly Held[] _held;
    private readonly EchoServerMetrics _metrics;
    private readonly TagList _tags;
    private int _heldCount;
    private UdpFaultSources? _sources;
    private long _armedFor = long.MaxValue;
    private bool _stopped;

    public UdpFaults(IEchoListener listener, int seed, int slots, int trackedSources, EchoServerMetrics metrics, TagList tags)
    {
        _metrics = metrics;
        _tags = tags;
        _listener = listener;
        _seed = seed;
        _sourceCapacity = trackedSources;
        _held = new Held[slots];
    }

    /// <summary>The rule set <see cref="Fitting"/> was read from. Read and written by the slot holding the receive duty only.</summary>
    public FaultRuleSet? Set { get; private set; }

    /// <summary>The indices of the rules of <see cref="Set"/> that fit the listener, or <see langword="null"/> when none does (the hot path's one test).</summary>
    public int[]? Fitting { get; private set; }

    /// <summary>
    /// The decision for datagram number <paramref name="datagram"/> of the source with first-seen ordinal
    /// <paramref name="source"/>: a pure function of its arguments. Each rule's toxicity draw depends only on the
    /// datagram's key and the rule's index (adding a rule after it changes nothing for it); of several picked rules of
    /// one type, the first applies.
    /// </summary>
    public static UdpFaultDecision Decide(EchoFault[] rules, int[] fitting, int seed, long source, long datagram)
    {
        var key = new FaultRandom((FaultRandom.ConnectionKey(seed, source) ^ UdpSalt) + ((ulong)datagram * 0xD6E8FEB86659FD93)).Next();
        var decision = new UdpFaultDecision { Key = key, Copies = 1, Latency = -1 };
        var picked = 0;
        foreach (var index in fitting)
        {
            var rule = rules[index];
            var bit = 1 << (int)rule.Type;
            if ((picked & bit) != 0 || (rule.Toxicity < 1 && FaultRandom.RuleDraw(key, index) >= rule.Toxicity))
            {
                continue;
            }

            picked |= bit;
            switch (rule.Type)
            {
                case EchoFaultType.Drop:
                    decision.Drop = true;
                    break;
                case EchoFaultType.Duplicate:
                    decision.Copies = 2;
                    break;
                case EchoFaultType.Reorder:
                    decision.ReorderHold = Math.Max(1, ToTimestamp(rule.Delay));
                    break;
                case EchoFaultType.Latency:
                    var delay = ToTimestamp(rule.Delay);
                    if (rule.Jitter > TimeSpan.Zero)
                    {
                        var random = new FaultRandom(key ^ JitterSalt);
                        delay += (long)(((random.NextDouble() * 2) - 1) * ToTimestamp(rule.Jitter));
                    }

                    decision.Latency = Math.Max(0, delay);
                    break;
                case EchoFaultType.Corrupt:
                    decision.CorruptEvery = rule.Bytes;
                    break;
            }
        }

        return decision;
    }

    /// <summary>
    /// Flips one bit in each of some bytes of <paramref name="payload"/>, each byte with probability 1 /
    /// <paramref name="every"/>, at positions and bits drawn from the datagram's <paramref name="key"/>. The gaps between
    /// flipped bytes are geometric, which has no memory: a datagram's flips do not depend on the ones before it, and
    /// the flips still average one per <paramref name="every"/> echoed bytes over any number of datagrams. Returns the
    /// number of bits flipped.
    /// </summary>
    public static int Corrupt(Span<byte> payload, ulong key, long every)
    {
        var random = new FaultRandom(key ^ CorruptSalt);
        // ln(1 - p) through LogP1, which stays exact (and below zero) however large every is.
        var logStay = every == 1 ? 0 : double.LogP1(-1.0 / every);
        var flipped = 0;
        var at = -1L;
        while (true)
        {
            // The gap to the next flipped byte: 1 + floor(ln(u) / ln(1 - p)), u in (0, 1], is geometric with mean 1 / p.
            var gap = every == 1 ? 1 : 1 + Math.Floor(double.LogP1(-random.NextDouble()) / logStay);
            if (at + gap >= payload.Length)
            {
                return flipped;
            }

            at += (long)gap;
            payload[(int)at] ^= (byte)(1 << random.NextInt(0, 7));
            flipped++;
        }
    }

    /// <summary>Takes up a new rule set (a change through <see cref="EchoServer.Faults"/>, or a listener added at start). Called by the slot holding the receive duty.</summary>
    public void Take(FaultRuleSet set)
    {
        Set = set;
        Fitting = set.FittingFor(_listener) is { Length: > 0 } fitting ? fitting : null;
        if (Fitting is not null)
        {
            return;
        }

        // No rule is left to go through this table: a datagram waiting for the next one of its source would wait for
        // its whole hold, so each goes now (or when its latency is due).
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            for (var i = _heldCount - 1; i >= 0; i--)
            {
                if (_held[i].HoldUntil != 0)
                {
                    Overtaken(i, now);
                }
            }
        }
    }

    /// <summary>
    /// Applies the rules to one datagram (<paramref name="payload"/>, received at <paramref name="now"/> from
    /// <paramref name="address"/>:<paramref name="port"/> into <paramref name="datagram"/>'s slot). On
    /// <see cref="UdpFaultOutcome.Held"/> the slot has already handed off the receive duty and may be released at any
    /// moment on another thread: its caller must not touch it any more. <paramref name="after"/> is a datagram of the
    /// same source held back by <c>reorder</c> and now overtaken: the caller releases it once its own send is issued.
    /// Called by the slot holding the receive duty, only when <see cref="Fitting"/> is not <see langword="null"/>.
    /// </summary>
    public UdpFaultOutcome OnDatagram(IUdpHeldDatagram datagram, UdpSourceKey address, int port, Span<byte> payload, long now, out UdpFaultDecision decision, out IUdpHeldDatagram? after)
    {
        after = null;
        lock (_gate)
        {
            if (_stopped)
            {
                decision = default;
                return UdpFaultOutcome.Stopped;
            }

            _sources ??= new UdpFaultSources(_sourceCapacity);
            var entry = _sources.See(address, port, out var source, out var number);
            decision = Decide(Set!.Rules, Fitting!, _seed, source, number);

            // A datagram of this source held back by reorder is overtaken by this one, which is not held back in turn
            // (with toxicity 1, datagrams swap in pairs: B A D C ...).
            IUdpHeldDatagram? overtaken = null;
            ref var heldHere = ref _sources.HeldAt(entry);
            if (heldHere is IUdpHeldDatagram previous)
            {
                heldHere = null;
                decision.ReorderHold = 0;
                var i = IndexOf(previous);
                if (i >= 0)
                {
                    overtaken = Overtaken(i, now, release: false);
                }
            }

            if (decision.Drop)
            {
                _metrics.FaultApplied(_tags, EchoFaultType.Drop);
                overtaken?.Release();
                return UdpFaultOutcome.Dropped;
            }

            if (decision.CorruptEvery > 0)
            {
                decision.Flipped = Corrupt(payload, decision.Key, decision.CorruptEvery);
            }

            var due = decision.Latency > 0 ? now + decision.Latency : now;
            decision.Delayed = due > now;
            decision.Reordered = decision.ReorderHold > 0;
            CountApplied(decision);
            if (!decision.Delayed && !decision.Reordered)
            {
                after = overtaken;
                return UdpFaultOutcome.Send;
            }

            overtaken?.Release();
            var holdUntil = decision.Reordered ? now + decision.ReorderHold : 0;
            if (decision.Reordered)
            {
                heldHere = datagram;
            }

            datagram.Hold(decision.Copies);
            _held[_heldCount++] = new Held(datagram, due, holdUntil, decision.Reordered ? entry : -1);
            ArmFor(ReadyAt(_held[_heldCount - 1]), now);
            return UdpFaultOutcome.Held;
        }
    }

    /// <summary>The listener stopped: every held datagram is dropped and nothing more is held. Returns how many were dropped.</summary>
    public int Stop()
    {
        IUdpHeldDatagram[] dropped;
        lock (_gate)
        {
            _stopped = true;
            dropped = new IUdpHeldDatagram[_heldCount];
            for (var i = 0; i < _heldCount; i++)
            {
                dropped[i] = _held[i].Datagram;
                _held[i] = default;
            }

            _heldCount = 0;
        }

        foreach (var datagram in dropped)
        {
            datagram.DropAtStop();
        }

        return dropped.Length;
    }

    /// <summary>The metric, once per rule that acted on the datagram; before it is held, so nothing can fail after the hold.</summary>
    private void CountApplied(in UdpFaultDecision decision)
    {
        if (decision.Copies > 1)
        {
            _metrics.FaultApplied(_tags, EchoFaultType.Duplicate);
        }

        if (decision.Flipped > 0)
        {
            _metrics.FaultApplied(_tags, EchoFaultType.Corrupt);
        }

        if (decision.Delayed)
        {
            _metrics.FaultApplied(_tags, EchoFaultType.Latency);
        }

        if (decision.Reordered)
        {
            _metrics.FaultApplied(_tags, EchoFaultType.Reorder);
        }
    }

    private static long ToTimestamp(TimeSpan value) => (long)Math.Ceiling(value.Ticks * (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);

    /// <summary>When a held datagram may go: its latency's due time, and, while it waits for its source's next datagram, not before its hold expires.</summary>
    private static long ReadyAt(in Held held) => held.HoldUntil == 0 ? held.Due : Math.Max(held.Due, held.HoldUntil);

    private int IndexOf(IUdpHeldDatagram datagram)
    {
        for (var i = 0; i < _heldCount; i++)
        {
            if (ReferenceEquals(_held[i].Datagram, datagram))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Held datagram <paramref name="i"/> waits for its source no longer. If its latency is due, it leaves the list and
    /// is released (or, without <paramref name="release"/>, returned for the caller to release); otherwise it stays until then.
    /// </summary>
    private IUdpHeldDatagram? Overtaken(int i, long now, bool release = true)
    {
        ref var held = ref _held[i];
        Unlink(held);
        held.HoldUntil = 0;
        held.Source = -1;
        if (held.Due > now)
        {
            ArmFor(held.Due, now);
            return null;
        }

        var datagram = held.Datagram;
        RemoveAt(i);
        if (release)
        {
            datagram.Release();
        }

        return datagram;
    }

    private void Unlink(in Held held)
    {
        if (held.Source >= 0)
        {
            ref var heldAt = ref _sources!.HeldAt(held.Source);
            if (ReferenceEquals(heldAt, held.Datagram))
            {
                heldAt = null;
            }
        }
    }

    private void RemoveAt(int i)
    {
        _held[i] = _held[--_heldCount];
        _held[_heldCount] = default;
    }

    /// <summary>Schedules a wake-up for <paramref name="due"/> if that is earlier than the one scheduled; the clock never wakes early.</summary>
    private void ArmFor(long due, long now)
    {
        if (due >= _armedFor)
        {
            return;
        }

        _armedFor = due;
        FaultClock.Schedule(this, 0, due);
    }

    /// <summary>The clock's wake-up: the release (a send per due datagram) runs on the thread pool, with this object as its work item.</summary>
    void IFaultClockTarget.OnClock(long token) => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    void IThreadPoolWorkItem.Execute() => OnTimer();

    /// <summary>Releases every held datagram that is due, and sets the timer for the next one.</summary>
    private void OnTimer()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var next = long.MaxValue;
            for (var i = _heldCount - 1; i >= 0; i--)
            {
                var ready = ReadyAt(_held[i]);
                if (ready <= now)
                {
                    var datagram = _held[i].Datagram;
                    Unlink(_held[i]);
                    RemoveAt(i);
                    datagram.Release();
                }
                else
                {
                    next = Math.Min(next, ready);
                }
            }

            _armedFor = long.MaxValue;
            if (next != long.MaxValue)
            {
                ArmFor(next, now);
            }
        }
    }

    /// <summary>One held datagram: when its latency is due, until when it waits for its source's next datagram (0: it does not), and its source's entry (-1: none).</summary>
    private struct Held(IUdpHeldDatagram datagram, long due, long holdUntil, int source)
    {
        public IUdpHeldDatagram Datagram = datagram;
        public long Due = due;
        public long HoldUntil = holdUntil;
        public int Source = source;
    }
}

/// <summary>The log of UDP fault injection.</summary>
internal static partial class UdpFaultLog
{
    [LoggerMessage(64, LogLevel.Information, "{Count} UDP datagrams held back by fault rules on {EndPoint} were dropped as the server stopped.")]
    public static partial void HeldDroppedAtStop(ILogger logger, int count, System.Net.EndPoint endPoint);
}
