using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// One immutable set of fault rules and, per listener, the indices of the rules that fit it (its transport and
/// <c>on=</c>), computed once when the set is made rather than per connection or datagram.
/// </summary>
internal sealed class FaultRuleSet
{
    private readonly Dictionary<IEchoListener, int[]> _fitting = new(ReferenceEqualityComparer.Instance);

    public FaultRuleSet(EchoFault[] rules, IEnumerable<Place> places, int version)
    {
        Rules = rules;
        Version = version;
        foreach (var place in places)
        {
            var fitting = Enumerable.Range(0, rules.Length)
                .Where(i => rules[i].Fits(place.Transport, place.Bound, place.Configured) && (place.Stream is not { } stream || rules[i].Stream == stream)).ToArray();
            if (fitting.Length > 0)
            {
                _fitting[place.Listener] = fitting;
            }
        }
    }

    public EchoFault[] Rules { get; }

    /// <summary><see cref="Rules"/> as callers outside see them: an array cast back could otherwise change a set in use.</summary>
    public IReadOnlyList<EchoFault> ReadOnlyRules => field ??= Array.AsReadOnly(Rules);

    /// <summary>Grows with each change of a server's rules; -1 for a selector's set of one connection.</summary>
    public int Version { get; }

    public bool IsEmpty => Rules.Length == 0;

    /// <summary>The indices of the rules that fit <paramref name="listener"/>, or <see langword="null"/> when none does.</summary>
    public int[]? FittingFor(IEchoListener listener) => _fitting.GetValueOrDefault(listener);

    /// <summary>
    /// The faults of the stream connection with accept ordinal <paramref name="ordinal"/> on <paramref name="listener"/>,
    /// or <see langword="null"/>. Each rule's toxicity draw depends only on the seed, the ordinal and the rule's index,
    /// so the same run decides the same; of several picked rules of one type, the first applies. With
    /// <paramref name="liveOnly"/>, only the types a running connection takes up at its next echo are considered. A
    /// proxy's relay passes its <paramref name="stream"/> and gets only that direction's rules (<c>refuse</c>, which acts
    /// at accept, goes to the upstream relay, the one that owns the accepted connection) and a random stream of its own;
    /// an echo connection passes <see langword="null"/> and gets every rule.
    /// </summary>
    public ConnectionFaults? Decide(long ordinal, int seed, IEchoListener listener, bool liveOnly, out EchoFault[]? picked, FaultDirection? stream = null)
    {
        picked = null;
        if (FittingFor(listener) is not { } fitting)
        {
            return null;
        }

        var key = FaultRandom.ConnectionKey(seed, ordinal);
        List<EchoFault>? chosen = null;
        foreach (var index in fitting)
        {
            var rule = Rules[index];
            if ((liveOnly && !FaultTypes.Of(rule.Type).AppliesLive) || (stream is { } relay && RelayOf(rule) != relay)
                || chosen?.Exists(r => r.Type == rule.Type) == true)
            {
                continue;
            }

            if (rule.Toxicity >= 1 || FaultRandom.RuleDraw(key, index) < rule.Toxicity)
            {
                (chosen ??= []).Add(rule);
            }
        }

        if (chosen is null)
        {
            return null;
        }

        picked = [.. chosen];
        return new ConnectionFaults(picked, stream == FaultDirection.Upstream ? key ^ UpstreamKeySalt : key);
    }

    /// <summary>Keeps the two relays of one proxied connection from drawing the same random values (jitter, sizes).</summary>
    private const ulong UpstreamKeySalt = 0x9E3779B97F4A7C15;

    /// <summary>The relay of a proxied connection a rule belongs to.</summary>
    private static FaultDirection RelayOf(EchoFault rule) => rule.Type is EchoFaultType.Refuse or EchoFaultType.SlowOpen ? FaultDirection.Upstream : rule.Stream;

    /// <summary>A listener of the server, as the rules' <c>on=</c> sees it; a UDP proxy's direction also has its <c>stream=</c>.</summary>
    public readonly record struct Place(IEchoListener Listener, EchoTransport Transport, EndPoint Bound, EndPoint? Configured, FaultDirection? Stream = null);
}
