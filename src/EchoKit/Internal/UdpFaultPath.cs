using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The one datagram path of the UDP fault rules of one listener (see docs/FAULTS.md): each datagram goes through the
/// stages (<see cref="IDatagramStage"/>, one per fault type, registered in <see cref="DatagramStages"/>) of the rules
/// that fit the listener, and comes out to be sent now, dropped or held. The path knows no socket: it is given a
/// datagram, its source and what holds its buffer (<see cref="IUdpHeldDatagram"/>), and the listener (or a proxy, from
/// a source socket to a sink) sends what comes out. It keeps the rules of the set in force, cached per set; the
/// sources it saw (<see cref="UdpFaultSources"/>), whose first-seen ordinals and per-source datagram numbers key every
/// draw, so a datagram's fate depends only on the seed, the rules and the order of datagrams per source; and the
/// datagrams held back (UdpFaultPath.Held.cs). Nothing is allocated per datagram: the source table is made once, when
/// the first datagram meets a rule.
/// </summary>
internal sealed partial class UdpFaultPath
{
    private const ulong UdpSalt = 0x5544_5046_4155_4C54;

    private readonly Lock _gate = new();
    private readonly IEchoListener _listener;
    private readonly int _seed;
    private readonly int _sourceCapacity;
    private readonly EchoServerMetrics _metrics;
    private readonly TagList _tags;
    private UdpFaultSources? _sources;
    private Lane[]? _lanes;
    private bool _stopped;

    public UdpFaultPath(IEchoListener listener, int seed, int slots, int trackedSources, EchoServerMetrics metrics)
    {
        _listener = listener;
        _seed = seed;
        _sourceCapacity = trackedSources;
        _metrics = metrics;
        _tags = listener.Tags;
        _held = new Held[slots];
    }

    /// <summary>The rule set the stages were read from. Read and written by the slot holding the receive duty only.</summary>
    public FaultRuleSet? Set { get; private set; }

    /// <summary>Whether rules of <see cref="Set"/> fit the listener (the hot path's one test); without, a datagram never comes here.</summary>
    public bool HasRules => _lanes is not null;

    /// <summary>
    /// The fate of datagram number <paramref name="datagram"/> of the source with first-seen ordinal
    /// <paramref name="source"/> under the rules <paramref name="fitting"/> of <paramref name="rules"/>, its bytes aside,
    /// as the path decides it for a datagram that overtakes none: a pure function of its arguments. Each rule's toxicity
    /// draw depends only on the datagram's key and the rule's index (adding a rule after it changes nothing for it); of
    /// several picked rules of one type, the first applies.
    /// </summary>
    public static Datagram Decide(EchoFault[] rules, int[] fitting, int seed, long source, long datagram)
    {
        var fate = new Datagram(Key(seed, source, datagram), Span<byte>.Empty, overtakes: false);
        Run(LanesFor(rules, fitting), rules, ref fate);
        return fate;
    }

    /// <summary>Takes up a new rule set (a change through <see cref="EchoServer.Faults"/>, or a listener added at start). Called by the slot holding the receive duty.</summary>
    public void Take(FaultRuleSet set)
    {
        Set = set;
        _lanes = set.FittingFor(_listener) is { Length: > 0 } fitting ? LanesFor(set.Rules, fitting) : null;
        if (_lanes is null)
        {
            // No rule is left to go through this path: a datagram waiting for the next one of its source would wait
            // for its whole hold, so each goes now (or when its latency is due).
            lock (_gate)
            {
                ReleaseWaiting(Stopwatch.GetTimestamp());
            }
        }
    }

    /// <summary>
    /// Puts one datagram (<paramref name="payload"/>, received at <paramref name="now"/> from
    /// <paramref name="address"/>:<paramref name="port"/> into <paramref name="datagram"/>'s buffer) through the stages.
    /// On <see cref="UdpFaultOutcome.Send"/> it goes <paramref name="copies"/> times; <paramref name="after"/> is a
    /// datagram of the same source it overtook, which the caller releases once its own send is issued. On
    /// <see cref="UdpFaultOutcome.Held"/> the holder has already handed off the receive duty and may be released at any
    /// moment on another thread: its caller must not touch it any more. Called by the slot holding the receive duty,
    /// only when <see cref="HasRules"/>.
    /// </summary>
    public UdpFaultOutcome OnDatagram(IUdpHeldDatagram datagram, UdpSourceKey address, int port, Span<byte> payload, long now, out int copies, out IUdpHeldDatagram? after)
    {
        copies = 1;
        after = null;
        lock (_gate)
        {
            if (_stopped)
            {
                return UdpFaultOutcome.Stopped;
            }

            _sources ??= new UdpFaultSources(_sourceCapacity);
            var entry = _sources.See(address, port, out var source, out var number);
            var overtaken = Overtake(entry, now, out var overtakes);
            var lanes = _lanes!;
            var fate = new Datagram(Key(_seed, source, number), payload, overtakes);

            // Counted before it is held, so nothing can fail after the hold.
            CountApplied(lanes, Run(lanes, Set!.Rules, ref fate));
            if (fate.Drop)
            {
                overtaken?.Release();
                return UdpFaultOutcome.Dropped;
            }

            copies = fate.Copies;
            if (fate.Delay == 0 && fate.WaitForNext == 0)
            {
                after = overtaken;
                return UdpFaultOutcome.Send;
            }

            overtaken?.Release();
            Hold(datagram, entry, now, fate.Delay, fate.WaitForNext, fate.Copies);
            return UdpFaultOutcome.Held;
        }
    }

    /// <summary>The key of a datagram: the seed, its source's first-seen ordinal and its number from that source, mixed.</summary>
    private static ulong Key(int seed, long source, long datagram) =>
        new FaultRandom((FaultRandom.ConnectionKey(seed, source) ^ UdpSalt) + ((ulong)datagram * 0xD6E8FEB86659FD93)).Next();

    /// <summary>Each stage with the fitting rules of its type, in the order of <see cref="DatagramStages.All"/>; made once per rule set.</summary>
    private static Lane[] LanesFor(EchoFault[] rules, int[] fitting) =>
        [.. DatagramStages.All.Select(stage => new Lane(stage, [.. fitting.Where(i => rules[i].Type == stage.Type)])).Where(lane => lane.Rules.Length > 0)];

    /// <summary>
    /// Hands <paramref name="datagram"/> to each lane's stage with the first of the lane's rules its toxicity picks,
    /// until one drops it. Returns the lanes whose stage acted, one bit each.
    /// </summary>
    private static int Run(Lane[] lanes, EchoFault[] rules, ref Datagram datagram)
    {
        var acted = 0;
        for (var l = 0; l < lanes.Length && !datagram.Drop; l++)
        {
            foreach (var index in lanes[l].Rules)
            {
                var rule = rules[index];
                if (rule.Toxicity >= 1 || FaultRandom.RuleDraw(datagram.Key, index) < rule.Toxicity)
                {
                    acted |= lanes[l].Stage.Apply(rule, ref datagram) ? 1 << l : 0;
                    break;
                }
            }
        }

        return acted;
    }

    /// <summary>The metric, once per rule that acted on the datagram, in the order of the stages.</summary>
    private void CountApplied(Lane[] lanes, int acted)
    {
        for (var l = 0; acted != 0; l++, acted >>= 1)
        {
            if ((acted & 1) != 0)
            {
                _metrics.FaultApplied(_tags, lanes[l].Stage.Type);
            }
        }
    }

    /// <summary>A stage and the indices of the fitting rules of its type.</summary>
    private readonly record struct Lane(IDatagramStage Stage, int[] Rules);
}
