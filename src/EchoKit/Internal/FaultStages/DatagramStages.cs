namespace EchoKit.Internal;

/// <summary>The datagram fault types, registered once for every <see cref="UdpFaultPath"/>.</summary>
internal static class DatagramStages
{
    /// <summary>
    /// Every stage, in the order they act on a datagram (and count in <c>echokit.faults.applied</c>): a drop first, so a
    /// dropped datagram meets no other stage, then what shapes its echo.
    /// </summary>
    public static readonly IDatagramStage[] All =
    [
        new DatagramDropStage(),
        new DatagramDuplicateStage(),
        new DatagramCorruptStage(),
        new DatagramLatencyStage(),
        new DatagramReorderStage(),
    ];
}
