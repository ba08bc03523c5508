namespace EchoKit.Internal;

/// <summary>What becomes of one datagram on a <see cref="UdpFaultPath"/>.</summary>
internal enum UdpFaultOutcome
{
    /// <summary>Send it now (as many copies as the path said).</summary>
    Send,

    /// <summary>A <c>drop</c> rule picked it: not sent.</summary>
    Dropped,

    /// <summary>Held back by <c>latency</c> or <c>reorder</c>: its holder gave up the receive duty and sends it when released.</summary>
    Held,

    /// <summary>The path is stopping: nothing more is held.</summary>
    Stopped,
}
