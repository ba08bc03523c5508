using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;

namespace EchoKit;

/// <summary>
/// Settings for a <see cref="FaultProxy"/>: where it listens, the one upstream it relays each connection to, and the
/// fault rules it applies per direction. The proxy takes a copy when it is constructed.
/// </summary>
public sealed class FaultProxyOptions
{
    /// <summary>
    /// The stream endpoints to listen on: <see cref="IPEndPoint"/> for TCP (port 0 picks a free port, read the real one
    /// from <see cref="FaultProxy.EndPoints"/>) or <see cref="UnixDomainSocketEndPoint"/>. At least one is required here
    /// or in <see cref="UdpEndPoints"/>. TLS passes through as plain bytes. Defaults to empty.
    /// </summary>
    public IList<EndPoint> EndPoints { get; } = new List<EndPoint>();

    /// <summary>
    /// The UDP endpoints to listen on. Each client source (address and port) gets a session with a socket of its own
    /// to <see cref="Upstream"/> (an IP endpoint, or a host name resolved once at start), which ends after
    /// <see cref="IdleTimeout"/> without a datagram (60 seconds when that is not set); at most
    /// <see cref="MaxConnections"/> sessions exist at once. Datagram rules (drop, duplicate, reorder, latency, corrupt)
    /// act per direction. Defaults to empty.
    /// </summary>
    public IList<IPEndPoint> UdpEndPoints { get; } = new List<IPEndPoint>();

    /// <summary>
    /// The server every accepted connection is relayed to: an <see cref="IPEndPoint"/>, a <see cref="DnsEndPoint"/>
    /// (resolved for each connection, each address tried in turn) or a <see cref="UnixDomainSocketEndPoint"/>.
    /// Required. Defaults to <see langword="null"/>.
    /// </summary>
    public EndPoint? Upstream { get; set; }

    /// <summary>
    /// How long connecting to <see cref="Upstream"/> may take for one client before the client is closed with
    /// <see cref="ConnectionCloseReason.UpstreamUnavailable"/>. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The fault rules, each acting on the direction its <see cref="EchoFault.Stream"/> names (downstream, server to
    /// client, unless <c>stream=upstream</c>); change them while the proxy runs through <see cref="FaultProxy.Faults"/>.
    /// Defaults to empty: bytes pass unchanged.
    /// </summary>
    public IList<EchoFault> Faults { get; } = new List<EchoFault>();

    /// <summary>The seed of every random draw (toxicity, jitter, sizes), so a run can be replayed; <see langword="null"/> picks one (read it from <see cref="EchoServerFaults.Seed"/>). Defaults to <see langword="null"/>.</summary>
    public int? FaultSeed { get; set; }

    /// <summary>
    /// Picks the rules of each client connection, called once per connection at accept with its id and endpoints, on
    /// the accept path (keep it quick): the rules it returns (of both directions, by their <see cref="EchoFault.Stream"/>)
    /// replace <see cref="Faults"/> for that connection; <see langword="null"/> leaves it to <see cref="Faults"/>. One
    /// that throws is logged and the connection gets no faults. Defaults to <see langword="null"/>.
    /// </summary>
    public Func<FaultSelectionContext, IEnumerable<EchoFault>?>? FaultSelector { get; set; }

    /// <summary>
    /// The most client connections relayed at once; more are refused (RST) and counted as rejected. Each holds two
    /// sockets. Defaults to 10,000.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// The size of each direction's receive buffer in bytes, from 64 bytes to 16 MiB: a busy connection holds one per
    /// direction, an idle one none. Defaults to 64 KiB.
    /// </summary>
    public int ReceiveBufferSize { get; set; } = 64 * 1024;

    /// <summary>Closes a connection on which neither side sent anything for this long; <see langword="null"/> never does. Defaults to <see langword="null"/>.</summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>Sets TCP_NODELAY on both sockets of each connection, so the proxy adds no Nagle delay of its own. Defaults to <see langword="true"/>.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>Checks every setting and throws when one is invalid.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each invalid setting and its rule, and <see cref="ArgumentException.ParamName"/> names the first.</exception>
    public void Validate() => ToServerOptions();

    /// <summary>The engine's settings for these: an echo server's, with the upstream set. Throws as <see cref="Validate"/> does.</summary>
    internal EchoServerOptions ToServerOptions()
    {
        var options = new EchoServerOptions
        {
            MaxConnections = MaxConnections,
            ReceiveBufferSize = ReceiveBufferSize,
            IdleTimeout = IdleTimeout,
            NoDelay = NoDelay,
            FaultSeed = FaultSeed,
            FaultSelector = FaultSelector,

            // Each direction's send waits for its reader: a client that does not read is the fault under test, not a reason to cut it.
            SendTimeout = null,
        };
        foreach (var endPoint in EndPoints)
        {
            options.EndPoints.Add(endPoint);
        }

        foreach (var endPoint in UdpEndPoints)
        {
            options.UdpEndPoints.Add(endPoint);
        }

        foreach (var fault in Faults)
        {
            options.Faults.Add(fault);
        }

        var errors = options.GetValidationErrors(nameof(FaultProxyOptions));
        void Fail(string name, string rule) => errors.Add((name, $"{nameof(FaultProxyOptions)}.{name} {rule}."));
        switch (Upstream)
        {
            case null:
                Fail(nameof(Upstream), "is required: the server each connection is relayed to");
                break;
            case IPEndPoint { Port: 0 } or DnsEndPoint { Port: <= 0 or > 65535 }:
                Fail(nameof(Upstream), $"must name a port from 1 to 65535 (was {Upstream})");
                break;
            case IPEndPoint or DnsEndPoint or UnixDomainSocketEndPoint:
                break;
            default:
                Fail(nameof(Upstream), $"must be an IPEndPoint, a DnsEndPoint or a UnixDomainSocketEndPoint, not {Upstream.GetType().Name}");
                break;
        }

        for (var i = 0; i < Faults.Count; i++)
        {
            if (Faults[i] is { } rule && options.CheckProxyRule(rule) is { } problem)
            {
                Fail(nameof(Faults), $"rule '{rule}' (index {i}) {problem}");
            }
        }

        if (UdpEndPoints.Count > 0 && Upstream is UnixDomainSocketEndPoint)
        {
            Fail(nameof(UdpEndPoints), "need an IP or host name Upstream: a Unix stream socket cannot take datagrams");
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout.TotalMilliseconds > int.MaxValue)
        {
            Fail(nameof(ConnectTimeout), $"must be greater than zero and at most {TimeSpan.FromMilliseconds(int.MaxValue)} (was {ConnectTimeout})");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors.Select(e => e.Message)), errors[0].OptionName);
        }

        options.Upstream = new ProxyUpstream(Upstream!, ConnectTimeout);
        return options;
    }
}
