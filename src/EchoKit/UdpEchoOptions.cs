using System.Net;

namespace EchoKit;

/// <summary>
/// Settings for the UDP listeners of an <see cref="EchoServer"/> (<see cref="EchoServerOptions.UdpEndPoints"/>).
/// Abuse protection is on by default: an open UDP echo service is a classic reflection and loop vector, because
/// a datagram's source address can be forged. See docs/TRANSPORTS.md.
/// </summary>
public sealed class UdpEchoOptions
{
    /// <summary>The largest value accepted for <see cref="MaxDatagramSize"/>: 65,527 bytes, the largest UDP payload over IPv6.</summary>
    public const int MaxDatagramSizeLimit = 65_527;

    /// <summary>The largest value accepted for <see cref="DatagramsInFlight"/>: 256.</summary>
    public const int MaxDatagramsInFlight = 256;

    /// <summary>
    /// The source ports blocked by default: 0 (not a valid source), and services that answer any datagram and so
    /// could be looped with an echo service or used as reflectors: echo 7, discard 9, systat 11, daytime 13,
    /// qotd 17, chargen 19, time 37, DNS 53, TFTP 69, portmap 111, NTP 123, NetBIOS 137, SNMP 161, CLDAP 389,
    /// SSDP 1900, mDNS 5353 and memcached 11211.
    /// </summary>
    public static IReadOnlyList<int> DefaultBlockedSourcePorts { get; } =
        [0, 7, 9, 11, 13, 17, 19, 37, 53, 69, 111, 123, 137, 161, 389, 1900, 5353, 11211];

    /// <summary>
    /// The largest datagram echoed, in bytes; a larger one is counted (<see cref="EchoServerStatistics.DatagramsOversized"/>)
    /// and dropped, never echoed cut short. Each receive in flight holds a buffer of this size. Defaults to 65,507
    /// (the largest UDP payload over IPv4).
    /// </summary>
    public int MaxDatagramSize { get; set; } = 65_507;

    /// <summary>
    /// The most datagrams one UDP socket handles at once, each in its own buffer of <see cref="MaxDatagramSize"/>
    /// bytes: one is always being received while the echoes of the others wait to be sent, so a slow send does not
    /// stop the socket from receiving. Defaults to 4.
    /// </summary>
    public int DatagramsInFlight { get; set; } = 4;

    /// <summary>
    /// Source ports whose datagrams are dropped without an answer and counted
    /// (<see cref="EchoServerStatistics.DatagramsBlocked"/>), so a forged source cannot loop the echo with another
    /// service. The listener's own port is always blocked too (two echo servers on one port would echo each other
    /// forever), as are sources that cannot send (multicast, broadcast, unspecified addresses). Clear it to block
    /// only those. Defaults to <see cref="DefaultBlockedSourcePorts"/>.
    /// </summary>
    public ISet<int> BlockedSourcePorts { get; } = new SortedSet<int>(DefaultBlockedSourcePorts);

    /// <summary>
    /// The most datagrams echoed per second to one source IP address, with bursts of up to that many (a token
    /// bucket); more are dropped without an answer and counted (<see cref="EchoServerStatistics.DatagramsRateLimited"/>).
    /// This bounds what a forged source can make the server send to a victim. <see langword="null"/> turns it off.
    /// Defaults to 1000.
    /// </summary>
    public int? PerSourceRateLimit { get; set; } = 1000;

    /// <summary>
    /// How many source addresses the rate limiter remembers (about 40 bytes each, allocated once); when more are
    /// active, the one whose bucket is fullest is forgotten, so forged sources cannot grow the server's memory.
    /// Also how many sources (address and port) each UDP listener's fault rules track (about 64 bytes each, allocated
    /// when a datagram first meets a rule); when full, the source seen least recently is forgotten.
    /// Defaults to 4096.
    /// </summary>
    public int MaxTrackedSources { get; set; } = 4096;

    internal void CopyFrom(UdpEchoOptions source)
    {
        MaxDatagramSize = source.MaxDatagramSize;
        DatagramsInFlight = source.DatagramsInFlight;
        PerSourceRateLimit = source.PerSourceRateLimit;
        MaxTrackedSources = source.MaxTrackedSources;
        BlockedSourcePorts.Clear();
        BlockedSourcePorts.UnionWith(source.BlockedSourcePorts);
    }

    internal void AddValidationErrors(Action<string, string> fail)
    {
        if (MaxDatagramSize is < 1 or > MaxDatagramSizeLimit)
        {
            fail("Udp.MaxDatagramSize", $"must be between 1 and {MaxDatagramSizeLimit} bytes (was {MaxDatagramSize})");
        }

        if (DatagramsInFlight is < 1 or > MaxDatagramsInFlight)
        {
            fail("Udp.DatagramsInFlight", $"must be between 1 and {MaxDatagramsInFlight} (was {DatagramsInFlight})");
        }

        foreach (var port in BlockedSourcePorts)
        {
            if (port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
            {
                fail("Udp.BlockedSourcePorts", $"must contain only ports from 0 to 65535 (was {port})");
                break;
            }
        }

        if (PerSourceRateLimit is <= 0)
        {
            fail("Udp.PerSourceRateLimit", $"must be greater than 0, or null to turn it off (was {PerSourceRateLimit})");
        }

        if (MaxTrackedSources is < 1 or > 1 << 20)
        {
            fail("Udp.MaxTrackedSources", $"must be between 1 and {1 << 20} (was {MaxTrackedSources})");
        }
    }
}
