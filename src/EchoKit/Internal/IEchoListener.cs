using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// A listener of a server, stream (<see cref="EchoListener"/>) or datagram (<see cref="UdpEchoListener"/>): what the
/// fault rules are matched to once per rule set (<see cref="FaultRuleSet.FittingFor"/>), by reference.
/// </summary>
internal interface IEchoListener
{
    /// <summary>The transport it serves, which the rules' types and <c>on=</c> must fit.</summary>
    EchoTransport Transport { get; }

    /// <summary>Metric tags of the listener (<c>server.address</c>, <c>server.port</c>, <c>network.transport</c>, <c>network.type</c>), on every fault it applies.</summary>
    TagList Tags { get; }
}
