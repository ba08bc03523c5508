using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// The fault rules of one running server and the seed of their decisions. Built at start when
/// <see cref="EchoServerOptions.Faults"/> is not empty (otherwise <see cref="ServerContext.Faults"/> stays null and no
/// connection pays anything); read-only once the accept loops run.
/// </summary>
internal sealed class FaultPlan
{
    private readonly EchoFault[] _rules;
    private readonly Dictionary<EchoListener, int[]> _rulesByListener = [];

    public FaultPlan(IEnumerable<EchoFault> rules, int seed)
    {
        _rules = [.. rules];
        Seed = seed;
    }

    public int Seed { get; }

    public IReadOnlyList<EchoFault> Rules => _rules;

    /// <summary>Notes which rules fit a stream listener (its transport and <c>on=</c>); called at start, before it accepts.</summary>
    public void AddListener(EchoListener listener, EndPoint configured)
    {
        var fitting = Enumerable.Range(0, _rules.Length).Where(i => _rules[i].Fits(listener.Transport, listener.EndPoint, configured)).ToArray();
        if (fitting.Length > 0)
        {
            _rulesByListener[listener] = fitting;
        }
    }

    /// <summary>
    /// The faults of the connection with accept ordinal <paramref name="ordinal"/> (its id) on <paramref name="listener"/>,
    /// or <see langword="null"/> when none applies. Each rule's toxicity draw depends only on the seed, the ordinal and the
    /// rule's index, so the same run decides the same; of several picked rules of one type, the first applies.
    /// </summary>
    public ConnectionFaults? Decide(long ordinal, EchoListener listener)
    {
        return _rulesByListener.TryGetValue(listener, out var fitting) ? Decide(ordinal, fitting) : null;
    }

    /// <summary>The faults of connection <paramref name="ordinal"/> among the rules at <paramref name="fitting"/> (indices into the rules).</summary>
    public ConnectionFaults? Decide(long ordinal, int[] fitting)
    {
        var key = FaultRandom.ConnectionKey(Seed, ordinal);
        List<EchoFault>? picked = null;
        foreach (var index in fitting)
        {
            var rule = _rules[index];
            if (picked?.Exists(r => r.Type == rule.Type) == true)
            {
                continue;
            }

            if (rule.Toxicity >= 1 || FaultRandom.RuleDraw(key, index) < rule.Toxicity)
            {
                (picked ??= []).Add(rule);
            }
        }

        return picked is null ? null : new ConnectionFaults([.. picked], key);
    }
}

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator whose every output is a pure function of its state,
/// so a draw depends only on where it was seeded from. Never <see cref="Random.Shared"/>: that would make runs unrepeatable.
/// </summary>
internal struct FaultRandom(ulong state)
{
    private const ulong Golden = 0x9E3779B97F4A7C15;

    private ulong _state = state;

    /// <summary>The key of one connection: the seed and the accept ordinal, mixed.</summary>
    public static ulong ConnectionKey(int seed, long ordinal) => Mix(Mix((ulong)(uint)seed ^ 0xA0761D6478BD642F) ^ (ulong)ordinal);

    /// <summary>The toxicity draw, in [0, 1), of rule <paramref name="ruleIndex"/> for a connection: independent of other rules and of any other draw.</summary>
    public static double RuleDraw(ulong connectionKey, int ruleIndex) => ToUnit(Mix(connectionKey + ((ulong)ruleIndex + 1) * Golden));

    public ulong Next() => Mix(_state += Golden);

    /// <summary>A draw in [0, 1).</summary>
    public double NextDouble() => ToUnit(Next());

    /// <summary>A draw from <paramref name="min"/> to <paramref name="max"/>, both included.</summary>
    public int NextInt(int min, int max) => min == max ? min : (int)(min + (long)(Next() % (ulong)((long)max - min + 1)));

    private static double ToUnit(ulong value) => (value >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
