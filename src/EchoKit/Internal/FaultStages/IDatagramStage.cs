namespace EchoKit.Internal;

/// <summary>
/// One datagram fault type, a stage of the <see cref="UdpFaultPath"/>: what its rule does to one datagram (drop it,
/// hold it, send extra copies, change its bytes), written into the <see cref="Datagram"/>; leaving it as it is passes
/// it on. A stage keeps no state: the path owns the sources, the held datagrams and the clock, and the listener (or a
/// proxy) owns the sockets, so one instance serves every path. Its draws come from <see cref="Datagram.Key"/> only,
/// each from a stream of its own, so neither the order of the stages nor another rule changes them. A new datagram
/// fault type is one stage and its line in <see cref="DatagramStages.All"/>.
/// </summary>
internal interface IDatagramStage
{
    /// <summary>The rule type it implements: the path hands it the first rule of this type picked for a datagram.</summary>
    EchoFaultType Type { get; }

    /// <summary>Applies <paramref name="rule"/> to <paramref name="datagram"/>; returns whether it acted on it (counted once in <c>echokit.faults.applied</c>).</summary>
    bool Apply(EchoFault rule, ref Datagram datagram);
}
