using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>A UDP listener whose datagram counts go into the server's statistics and metrics: an echo server's, or a fault proxy's.</summary>
internal interface IUdpCounting
{
    /// <summary>The listener's metric tags.</summary>
    TagList Tags { get; }

    /// <summary>A consistent copy of its counters (outcomes never ahead of the datagrams received).</summary>
    UdpCounters ReadCounters();
}
