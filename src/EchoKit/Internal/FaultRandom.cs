namespace EchoKit.Internal;

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
