namespace EchoKit.Internal;

/// <summary>Which stage each stream fault type is: the one place a stream fault type is tied to its behaviour.</summary>
internal static class StreamFaultStages
{
    /// <summary>The stage of <paramref name="rule"/> for one connection; <see langword="null"/> for a type that is not a stream fault.</summary>
    public static StreamFaultStage? Build(EchoFault rule) => rule.Type switch
    {
        EchoFaultType.Latency => new LatencyFaultStage(rule),
        EchoFaultType.Slice => new SliceFaultStage(rule),
        EchoFaultType.Limit => new LimitFaultStage(rule),
        EchoFaultType.Reset => new ResetFaultStage(rule),
        EchoFaultType.Refuse => new RefuseFaultStage(rule),
        EchoFaultType.Blackhole => new BlackholeFaultStage(rule),
        EchoFaultType.Bandwidth => new BandwidthFaultStage(rule),
        EchoFaultType.SlowClose => new SlowCloseFaultStage(rule),
        EchoFaultType.StallReads => new StallReadsFaultStage(rule),
        EchoFaultType.Corrupt => new CorruptFaultStage(rule),
        _ => null,
    };
}
