namespace EchoKit.Internal;

/// <summary>
/// One fault type as <see cref="FaultTypes"/> declares it: its word, its keys (in the order the shortest form writes
/// them), the transports it fits, whether a live connection takes it up on a change of the rules, and how the values
/// of its keys become an <see cref="EchoFault"/>, and the <see cref="StreamFaultStage"/> that applies it to a stream connection. <see cref="EchoFault.Parse"/>, <see cref="EchoFault.ToString"/> and
/// the usage text read it; nothing else decides these per type.
/// </summary>
internal sealed class FaultTypeInfo
{
    private readonly EchoTransport[] _transports;
    private readonly Func<object?[], EchoFault> _build;
    private readonly Func<EchoFault, StreamFaultStage>? _streamStage;

    private FaultTypeInfo(
        EchoFaultType type, string name, EchoTransport[] transports, bool appliesLive, FaultKey[] keys, Func<object?[], EchoFault> build, Func<EchoFault, StreamFaultStage>? stage)
    {
        _streamStage = stage;
        Type = type;
        Name = name;
        _transports = transports;
        AppliesLive = appliesLive;
        Keys = keys;
        _build = build;
        var words = transports.Select(t => t.ToString().ToLowerInvariant()).ToArray();
        TransportList = string.Join(", ", words);
        Usage = $"{Grammar(name, keys)} plus toxicity=0..1, on={string.Join("|", words)}|ENDPOINT and stream=upstream|downstream (TIME such as 50ms or 2s, SIZE such as 4096 or 4KiB)";
    }

    /// <summary>The type.</summary>
    public EchoFaultType Type { get; }

    /// <summary>Its word in the grammar (<c>stall-reads</c>), also the metric's <c>fault.type</c> tag.</summary>
    public string Name { get; }

    /// <summary>Its own keys (not <c>toxicity</c>, <c>on</c> and <c>stream</c>, which every type takes), in the order <see cref="EchoFault.ToString"/> writes them.</summary>
    public IReadOnlyList<FaultKey> Keys { get; }

    /// <summary>
    /// Whether a running stream connection takes up rules of this type at its next echo when the server's rules
    /// change (<see cref="EchoServerFaults"/>); the others stay as the connection got them at accept.
    /// </summary>
    public bool AppliesLive { get; }

    /// <summary>The transports it fits, as errors name them: <c>tcp, tls, unix</c>.</summary>
    public string TransportList { get; }

    /// <summary>The rule's grammar, as every error about it ends: <c>reset[:after=TIME] plus toxicity=0..1, on=tcp|tls|unix|ENDPOINT and stream=upstream|downstream (...)</c>.</summary>
    public string Usage { get; }

    /// <summary>A type without keys of its own.</summary>
    public static FaultTypeInfo Of(EchoFaultType type, string name, EchoTransport[] transports, bool appliesLive, Func<EchoFault> build) =>
        new(type, name, transports, appliesLive, [], _ => build(), stage: null);

    /// <summary>A type with one key, built from its value.</summary>
    public static FaultTypeInfo Of<T>(
        EchoFaultType type, string name, EchoTransport[] transports, bool appliesLive, FaultKey<T> key, Func<T, EchoFault> build, Func<EchoFault, StreamFaultStage>? stage = null) =>
        new(type, name, transports, appliesLive, [key], values => build((T)values[0]!), stage);

    /// <summary>A type with two keys, built from their values.</summary>
    public static FaultTypeInfo Of<T1, T2>(
        EchoFaultType type,
        string name,
        EchoTransport[] transports,
        bool appliesLive,
        FaultKey<T1> first,
        FaultKey<T2> second,
        Func<T1, T2, EchoFault> build,
        Func<EchoFault, StreamFaultStage>? stage = null) =>
        new(type, name, transports, appliesLive, [first, second], values => build((T1)values[0]!, (T2)values[1]!), stage);

    /// <summary>Whether a rule of this type can act on <paramref name="transport"/>.</summary>
    public bool Fits(EchoTransport transport) => Array.IndexOf(_transports, transport) >= 0;

    /// <summary>The key named <paramref name="name"/> (lower case), or <see langword="null"/>.</summary>
    public FaultKey? Key(string name) => Keys.FirstOrDefault(k => k.Name == name);

    /// <summary>The stage that applies <paramref name="rule"/> (of this type) to one stream connection; <see langword="null"/> for a datagram-only type.</summary>
    public StreamFaultStage? StreamStage(EchoFault rule) => _streamStage?.Invoke(rule);

    /// <summary>The rule of <paramref name="values"/>, one per key of <see cref="Keys"/> (read and checked, or its <see cref="FaultKey.Absent"/> value), before <c>toxicity</c> and <c>on</c>.</summary>
    public EchoFault Build(object?[] values) => _build(values);

    /// <summary><c>limit:bytes=SIZE[,then=close|reset]</c>: the required keys, then each optional one in brackets.</summary>
    private static string Grammar(string name, FaultKey[] keys)
    {
        var required = keys.Where(k => k.Required).Select(k => $"{k.Name}={k.Grammar}").ToArray();
        var optional = keys.Where(k => !k.Required).Select(k => $"{k.Name}={k.Grammar}").ToArray();
        return (required.Length, optional.Length) switch
        {
            (0, 0) => name,
            (0, _) => $"{name}[:{string.Join("][,", optional)}]",
            _ => $"{name}:{string.Join(",", required)}{string.Concat(optional.Select(o => $"[,{o}]"))}",
        };
    }
}
