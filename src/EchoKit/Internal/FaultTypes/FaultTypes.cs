using static EchoKit.Internal.FaultKey;

namespace EchoKit.Internal;

/// <summary>
/// The registry of fault types: each <see cref="EchoFaultType"/> declared once, with its word, its keys and their
/// grammar and rules, the transports it fits, whether live connections take it up, and the factory that builds it.
/// <see cref="EchoFault.Parse"/>, <see cref="EchoFault.ToString"/>, the usage text in every error and the test of
/// docs/FAULTS.md read it, and a stream connection's faults are built from it. A new type is its entry here, its
/// <see cref="EchoFaultType"/> value, its public factory and the stage that applies it (a stream type's
/// <see cref="StreamFaultStage"/> is named in its entry; a datagram type's stage is listed in <see cref="DatagramStages"/>,
/// in the order the stages act).
/// </summary>
internal static class FaultTypes
{
    /// <summary>The mean bytes per flipped bit of <c>corrupt</c> when no <c>every=</c> is given.</summary>
    public const long DefaultCorruptEvery = 4096;

    /// <summary>How long <c>reorder</c> holds a datagram back at most when no <c>hold=</c> is given.</summary>
    public static readonly TimeSpan DefaultReorderHold = TimeSpan.FromMilliseconds(100);

    /// <summary>The stream transports, in the order errors name them.</summary>
    private static readonly EchoTransport[] Stream = [EchoTransport.Tcp, EchoTransport.Tls, EchoTransport.Unix];

    private static readonly EchoTransport[] Datagram = [EchoTransport.Udp];

    private static readonly EchoTransport[] StreamAndDatagram = [.. Stream, .. Datagram];

    /// <summary>Every type, indexed by its <see cref="EchoFaultType"/> value (so in the order errors list them).</summary>
    public static readonly IReadOnlyList<FaultTypeInfo> All =
    [
        FaultTypeInfo.Of(
            EchoFaultType.Latency, "latency", StreamAndDatagram, appliesLive: true,
            Time("delay", f => f.Delay, required: true),
            Time("jitter", f => f.Jitter),
            EchoFault.Latency,
            stage: rule => new LatencyFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Slice, "slice", Stream, appliesLive: true,
            SizeRange("size", f => (f.MinSize, f.MaxSize)),
            Time("delay", f => f.PieceDelay),
            (size, delay) => EchoFault.Slice(size.Min, size.Max, delay),
            stage: rule => new SliceFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Limit, "limit", Stream, appliesLive: false,
            Size("bytes", f => f.ByteLimit, 1, "must be at least 1 byte (refuse ends a connection before any byte)", required: true),
            CloseMode("then", f => f.CloseMode, EchoFaultClose.Close),
            EchoFault.Limit,
            stage: rule => new LimitFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Reset, "reset", Stream, appliesLive: false,
            Time("after", f => f.ResetAfter),
            EchoFault.Reset,
            stage: rule => new ResetFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Refuse, "refuse", Stream, appliesLive: false,
            CloseMode("mode", f => f.CloseMode, EchoFaultClose.Reset),
            EchoFault.Refuse,
            stage: rule => new RefuseFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Blackhole, "blackhole", Stream, appliesLive: true,
            TimeOrNever("close-after", f => f.CloseAfter, "must be more than zero (leave it out for never)"),
            EchoFault.Blackhole,
            stage: rule => new BlackholeFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Bandwidth, "bandwidth", Stream, appliesLive: true,
            Size("rate", f => f.Rate, 1, "must be at least 1 byte per second", required: true, grammar: "SIZE (bytes per second)"),
            EchoFault.Bandwidth,
            stage: rule => new BandwidthFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.SlowClose, "slow-close", Stream, appliesLive: false,
            Time("delay", f => f.CloseDelay, required: true, zero: "must be more than zero"),
            EchoFault.SlowClose,
            stage: rule => new SlowCloseFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.StallReads, "stall-reads", Stream, appliesLive: true,
            Size("after", f => f.StallAfter, 0, "must be zero or more"),
            EchoFault.StallReads,
            stage: rule => new StallReadsFaultStage(rule)),
        FaultTypeInfo.Of(
            EchoFaultType.Corrupt, "corrupt", StreamAndDatagram, appliesLive: true,
            Size("every", f => f.CorruptEvery, 1, "must be at least 1 byte", absent: DefaultCorruptEvery),
            EchoFault.Corrupt,
            stage: rule => new CorruptFaultStage(rule)),
        FaultTypeInfo.Of(EchoFaultType.Drop, "drop", Datagram, appliesLive: false, EchoFault.Drop),
        FaultTypeInfo.Of(EchoFaultType.Duplicate, "duplicate", Datagram, appliesLive: false, EchoFault.Duplicate),
        FaultTypeInfo.Of(
            EchoFaultType.Reorder, "reorder", Datagram, appliesLive: false,
            Time("hold", f => f.Hold, absent: DefaultReorderHold, zero: "must be more than zero"),
            hold => EchoFault.Reorder(hold)),
        FaultTypeInfo.Of(
            EchoFaultType.SlowOpen, "slow-open", Stream, appliesLive: false,
            Time("delay", f => f.OpenDelay, required: true, zero: "must be more than zero"),
            EchoFault.SlowOpen,
            stage: rule => new SlowOpenFaultStage(rule)),
    ];

    /// <summary>The words of every type, as errors list them: <c>latency, slice, ...</c>.</summary>
    public static readonly string Names = string.Join(", ", All.Select(t => t.Name));

    /// <summary>The entry of <paramref name="type"/>.</summary>
    public static FaultTypeInfo Of(EchoFaultType type) => All[(int)type];

    /// <summary>The type whose word is <paramref name="name"/> (lower case), or <see langword="null"/>.</summary>
    public static FaultTypeInfo? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
