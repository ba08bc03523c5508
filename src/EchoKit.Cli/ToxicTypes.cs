namespace EchoKit.Cli;

/// <summary>
/// Toxiproxy's toxic types and how each becomes an EchoKit rule (docs/PROXY.md, "From Toxiproxy"). Units are
/// Toxiproxy's, read from its source (toxics/*.go): milliseconds for times but the slicer's <c>delay</c> in
/// microseconds, and <c>rate</c> in KB/s of 1,000 bytes (bandwidth.go sleeps <c>len × 1 ms / rate</c>).
/// </summary>
internal static class ToxicTypes
{
    /// <summary>Toxiproxy's types: their attributes, in the order Toxiproxy prints them, and the rule they make.</summary>
    public static readonly IReadOnlyDictionary<string, ToxicType> Toxiproxy = new Dictionary<string, ToxicType>(StringComparer.Ordinal)
    {
        ["latency"] = new(["latency", "jitter"], a => EchoFault.Latency(Milliseconds(a, "latency"), Milliseconds(a, "jitter"))),

        // rate 0 is no limit in Toxiproxy ("if t.Rate <= 0 { sleep = 0 }"): no rule.
        ["bandwidth"] = new(["rate"], a => NonNegative(a, "rate") == 0 ? null : EchoFault.Bandwidth(checked(a["rate"] * 1000))),

        // delay 0 holds nothing back: no rule (EchoKit's slow-close needs a delay).
        ["slow_close"] = new(["delay"], a => NonNegative(a, "delay") == 0 ? null : EchoFault.SlowClose(Milliseconds(a, "delay"))),

        // timeout 0: data stops and the connection stays open until the toxic is removed.
        ["timeout"] = new(["timeout"], a => EchoFault.Blackhole(NonNegative(a, "timeout") == 0 ? null : Milliseconds(a, "timeout"))),
        ["reset_peer"] = new(["timeout"], a => EchoFault.Reset(Milliseconds(a, "timeout"))),
        ["slicer"] = new(["average_size", "size_variation", "delay"], Slicer),
        ["limit_data"] = new(["bytes"], a => EchoFault.Limit(NonNegative(a, "bytes") == 0
            ? throw new ArgumentOutOfRangeException("bytes", "limit_data: bytes must be at least 1 (EchoKit's limit ends a connection after at least one byte)")
            : a["bytes"])),
    };

    /// <summary>
    /// EchoKit's stream rules, reached by their own names, with attributes named after their keys (<c>corrupt</c>
    /// with <c>{"every": "4KiB"}</c>). <c>latency</c> and <c>bandwidth</c> are Toxiproxy's there, so EchoKit's are
    /// <c>echokit:latency</c> and <c>echokit:bandwidth</c>; every EchoKit type may carry the prefix. The UDP rules
    /// (drop, duplicate, reorder) have no place on a TCP proxy.
    /// </summary>
    public static readonly IReadOnlySet<string> EchoKit = new HashSet<string>(StringComparer.Ordinal)
    {
        "latency", "slice", "limit", "reset", "refuse", "blackhole", "bandwidth", "slow-close", "stall-reads", "corrupt", "slow-open",
    };

    /// <summary>The prefix that names an EchoKit type where a Toxiproxy type has the same name.</summary>
    public const string EchoKitPrefix = "echokit:";

    /// <summary>The types a client may ask for, for the message of an unknown one.</summary>
    public static string Known =>
        $"{string.Join(", ", Toxiproxy.Keys)} (Toxiproxy's), or EchoKit's {string.Join(", ", EchoKit.Where(t => !Toxiproxy.ContainsKey(t)))}, echokit:latency, echokit:bandwidth";

    /// <summary>The EchoKit type <paramref name="type"/> names (without its prefix), or null when it names none.</summary>
    public static string? EchoKitType(string type)
    {
        var name = type.StartsWith(EchoKitPrefix, StringComparison.Ordinal) ? type[EchoKitPrefix.Length..] : type;
        return EchoKit.Contains(name) && (name != type || !Toxiproxy.ContainsKey(name)) ? name : null;
    }

    private static EchoFault Slicer(IReadOnlyDictionary<string, long> a)
    {
        var average = NonNegative(a, "average_size");
        var variation = NonNegative(a, "size_variation");

        // Toxiproxy cuts pieces of average ± variation; EchoKit draws each size from a range, which needs a 1-byte floor.
        var min = (int)Math.Clamp(average - variation, 1, int.MaxValue);
        var max = (int)Math.Clamp(average + variation, min, int.MaxValue);
        return EchoFault.Slice(min, max, TimeSpan.FromMicroseconds(NonNegative(a, "delay")));
    }

    private static TimeSpan Milliseconds(IReadOnlyDictionary<string, long> a, string name) =>
        TimeSpan.FromMilliseconds(NonNegative(a, name));

    private static long NonNegative(IReadOnlyDictionary<string, long> a, string name) =>
        a[name] >= 0 ? a[name] : throw new ArgumentOutOfRangeException(name, $"{name} must be zero or more (was {a[name]})");
}

/// <summary>One Toxiproxy toxic type: its attributes (whole numbers, 0 when not given) and the EchoKit rule they make (none for a toxic that does nothing).</summary>
internal sealed record ToxicType(string[] Attributes, Func<IReadOnlyDictionary<string, long>, EchoFault?> ToRule);
