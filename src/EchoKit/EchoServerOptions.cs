using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;

namespace EchoKit;

/// <summary>
/// Settings for an <see cref="EchoServer"/>. The server takes a copy when it is constructed, so changing
/// an instance afterwards does not affect a server already built from it.
/// </summary>
public sealed class EchoServerOptions
{
    /// <summary>The largest value accepted for <see cref="ReceiveBufferSize"/>: 16 MiB.</summary>
    public const int MaxReceiveBufferSize = 16 * 1024 * 1024;

    /// <summary>The smallest value accepted for <see cref="ReceiveBufferSize"/>: 64 bytes.</summary>
    public const int MinReceiveBufferSize = 64;

    /// <summary>
    /// The stream endpoints to listen on: <see cref="IPEndPoint"/> for TCP (IPv4 or IPv6; port 0 picks a free port,
    /// read the real one from <see cref="EchoServer.EndPoints"/>) or <see cref="UnixDomainSocketEndPoint"/>. A socket
    /// file left behind by a process that died is removed when nothing listens on it; a live one fails the start
    /// (see docs/TRANSPORTS.md). At least one endpoint is required here or in <see cref="UdpEndPoints"/> or
    /// <see cref="TlsEndPoints"/>. Defaults to empty.
    /// </summary>
    public IList<EndPoint> EndPoints { get; } = new List<EndPoint>();

    /// <summary>
    /// The UDP endpoints to listen on (RFC 862 over UDP: each datagram is sent back to its source), set up by
    /// <see cref="Udp"/>. An endpoint may share its address and port with a TCP one in <see cref="EndPoints"/>.
    /// Defaults to empty.
    /// </summary>
    public IList<IPEndPoint> UdpEndPoints { get; } = new List<IPEndPoint>();

    /// <summary>
    /// The TLS endpoints to listen on (TCP with a TLS handshake first; the decrypted bytes are echoed), set up by
    /// <see cref="Tls"/>, which then needs a server certificate. Defaults to empty.
    /// </summary>
    public IList<IPEndPoint> TlsEndPoints { get; } = new List<IPEndPoint>();

    /// <summary>Settings of the UDP listeners: datagram size, receives in flight and abuse protection. Defaults to a <see cref="UdpEchoOptions"/> with its defaults.</summary>
    public UdpEchoOptions Udp { get; } = new();

    /// <summary>Settings of the TLS listeners: certificate, protocols, client certificates, handshake timeout. Defaults to a <see cref="TlsEchoOptions"/> with its defaults.</summary>
    public TlsEchoOptions Tls { get; } = new();

    /// <summary>The PROXY protocol on the stream listeners, for a server behind a load balancer; off by default.</summary>
    public ProxyProtocolOptions ProxyProtocol { get; } = new();

    /// <summary>
    /// Whether an endpoint on <see cref="IPAddress.IPv6Any"/> (TCP, TLS or UDP) also accepts IPv4 clients (a
    /// dual-mode socket). Defaults to <see langword="true"/>.
    /// </summary>
    public bool DualMode { get; set; } = true;

    /// <summary>The length of the kernel's queue of connections not yet accepted. Defaults to 512.</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// The most connections served at once, TCP, TLS (handshakes included) and Unix socket together; a connection
    /// beyond it is closed at once and counted as rejected, because an echo service open to untrusted clients must
    /// bound its memory. Defaults to 10,000.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// The size in bytes of the buffer each receive fills; it is also the most echo data one connection holds
    /// in the server (bytes are received, sent back from the same buffer, and only then is more received).
    /// Defaults to 65536 (64 KiB): large reads cut system calls per byte (see docs/BENCHMARKS.md), and an idle
    /// connection holds no buffer while <see cref="WaitForDataBeforeAllocatingBuffer"/> is on.
    /// </summary>
    public int ReceiveBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Whether a connection waits for data with a zero-byte receive before it takes a buffer from the pool, so
    /// an idle connection holds no buffer. While data keeps arriving before the connection looks for it, the
    /// connection receives at once instead (no extra call); after the first time it finds nothing, each wait costs
    /// one extra system call per receive. Turn it off to trade memory per idle connection for speed. Defaults to
    /// <see langword="true"/>.
    /// </summary>
    public bool WaitForDataBeforeAllocatingBuffer { get; set; } = true;

    /// <summary>
    /// How long a connection may go without receiving or sending a byte before the server closes it; a pending
    /// send that makes no progress counts as no traffic. <see langword="null"/> turns it off. Defaults to <see langword="null"/>.
    /// </summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>
    /// How long an echo may wait to be written, without progress, because the client does not read; then the
    /// connection is closed (<see cref="ConnectionCloseReason.SendTimeout"/>) and its buffer freed, because a
    /// client that never reads would otherwise hold server memory forever. <see langword="null"/> turns it off.
    /// Defaults to 30 seconds.
    /// </summary>
    public TimeSpan? SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest a connection is served; then it is closed gracefully (its in-flight echo is delivered first)
    /// with <see cref="ConnectionCloseReason.LifetimeExceeded"/>. <see langword="null"/> turns it off. Defaults to <see langword="null"/>.
    /// </summary>
    public TimeSpan? MaxConnectionLifetime { get; set; }

    /// <summary>
    /// The most bytes one connection may have echoed; bytes beyond it are not echoed and the connection is closed
    /// gracefully with <see cref="ConnectionCloseReason.ByteLimitExceeded"/>. <see langword="null"/> turns it off.
    /// Defaults to <see langword="null"/>.
    /// </summary>
    public long? MaxBytesPerConnection { get; set; }

    /// <summary>
    /// The most connections served at once from one remote IP address; more are rejected
    /// (<see cref="ConnectionRejectionReason.MaxConnectionsPerAddressExceeded"/>), so one host cannot take every slot
    /// of <see cref="MaxConnections"/>. <see langword="null"/> turns it off (integration and load tests usually come
    /// from one address). Defaults to <see langword="null"/>.
    /// </summary>
    public int? MaxConnectionsPerAddress { get; set; }

    /// <summary>
    /// The most new connections admitted per second, with bursts of up to that many; more are rejected
    /// (<see cref="ConnectionRejectionReason.RateLimited"/>), which bounds the work a connection flood can cause.
    /// <see langword="null"/> turns it off. Defaults to <see langword="null"/>.
    /// </summary>
    public int? MaxConnectionRate { get; set; }

    /// <summary>
    /// How long <see cref="EchoServer.StopAsync"/> lets connections finish the echo they are writing before it
    /// aborts them. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether to disable Nagle's algorithm (<see cref="SocketOptionName.NoDelay"/>) on TCP connections so
    /// each echo leaves at once. Defaults to <see langword="true"/>.
    /// </summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Whether to enable TCP keep-alive probes (<see cref="SocketOptionName.KeepAlive"/>) on connections, with
    /// the operating system's timings. Defaults to <see langword="false"/>.
    /// </summary>
    public bool KeepAlive { get; set; }

    /// <summary>
    /// Text written to each TCP, Unix socket and TLS connection when it is accepted, before anything is echoed, so a
    /// client (or a test of a load balancer) can tell which instance serves it. <c>{instance}</c> becomes
    /// <see cref="InstanceName"/>, <c>{remote}</c> the client's endpoint and <c>{local}</c> the server's (written as
    /// <c>127.0.0.1:5000</c>, <c>[::1]:5000</c> or <c>unix:/path</c>); with <see cref="ProxyProtocol"/> on they are the
    /// addresses of the PROXY header, and the greeting follows the header. On TLS it is written after the handshake. It
    /// is sent as UTF-8, expanded once per connection, is not echo data (it does not count in the connection's bytes
    /// sent, nor towards <see cref="MaxBytesPerConnection"/>, and fault rules do not delay, slice or limit it), and is
    /// bounded by <see cref="SendTimeout"/> as an echo is. Expanded with the longest endpoints, it must fit in
    /// <see cref="ReceiveBufferSize"/>. UDP gets no greeting (a datagram's answer is its echo).
    /// <see langword="null"/> turns it off. Defaults to <see langword="null"/>.
    /// </summary>
    public string? Greeting { get; set; }

    /// <summary>
    /// The name <c>{instance}</c> stands for in <see cref="Greeting"/>. Must not be empty. Defaults to
    /// <see cref="Environment.MachineName"/>.
    /// </summary>
    public string InstanceName { get; set; } = Environment.MachineName;

    /// <summary>
    /// Fault rules (see <see cref="EchoFault"/> and docs/FAULTS.md): each stream connection gets the rules that fit its
    /// listener (transport and <c>on=</c>) and that its <c>toxicity</c> draw picks, decided once at accept; each UDP
    /// datagram those its draw picks. Of several rules of one type, the first picked applies. The server's
    /// <see cref="EchoServer.Faults"/> starts with these and can change them while it runs. Defaults to empty: no
    /// fault, and an echo path as fast as without this feature.
    /// </summary>
    public IList<EchoFault> Faults { get; } = new List<EchoFault>();

    /// <summary>
    /// The seed of every random decision of <see cref="Faults"/> (which connections a <c>toxicity</c> picks, jitter,
    /// slice sizes, dropped datagrams): with the same seed, rules and order of accepted connections (and of datagrams
    /// per source), a run sees the same faults. <see langword="null"/> picks a seed when the server is made and logs it
    /// with the rules (event id 7), so a run can be replayed. Defaults to <see langword="null"/>.
    /// </summary>
    public int? FaultSeed { get; set; }

    /// <summary>
    /// Picks the fault rules of each stream connection at accept, given its id, transport and endpoints (so a test can
    /// fault "the third connection" or "clients from 127.0.0.5"): the rules it returns apply to that connection, still
    /// subject to their <c>on=</c> and <c>toxicity</c>; <see langword="null"/> leaves the connection to
    /// <see cref="Faults"/>. Called on the accept path, so it must be quick and must not block; one that throws is logged
    /// (event id 48) and that connection gets no faults. UDP datagrams use <see cref="Faults"/> only. Defaults to <see langword="null"/>.
    /// </summary>
    public Func<FaultSelectionContext, IEnumerable<EchoFault>?>? FaultSelector { get; set; }

    /// <summary>
    /// Checks every setting and throws when one is invalid.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A setting is invalid; the message names each invalid setting and its rule, and
    /// <see cref="ArgumentException.ParamName"/> names the first.
    /// </exception>
    public void Validate()
    {
        var errors = GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors.Select(e => e.Message)), errors[0].OptionName);
        }
    }

    /// <summary>Every invalid setting with its rule, in messages that name <paramref name="owner"/> (a <see cref="FaultProxyOptions"/> checks its settings here too).</summary>
    internal List<(string OptionName, string Message)> GetValidationErrors(string owner = nameof(EchoServerOptions))
    {
        var errors = new List<(string, string)>();
        void Fail(string name, string rule) => errors.Add((name, $"{owner}.{name} {rule}."));

        if (EndPoints.Count == 0 && UdpEndPoints.Count == 0 && TlsEndPoints.Count == 0)
        {
            Fail(nameof(EndPoints), "must contain at least one endpoint (or UdpEndPoints or TlsEndPoints must)");
        }

        var seen = new HashSet<EndPoint>();
        for (var i = 0; i < EndPoints.Count; i++)
        {
            var endPoint = EndPoints[i];
            if (endPoint is null)
            {
                Fail(nameof(EndPoints), $"must not contain null (index {i})");
            }
            else if (endPoint is not IPEndPoint and not UnixDomainSocketEndPoint)
            {
                Fail(nameof(EndPoints), $"must contain only IPEndPoint or UnixDomainSocketEndPoint, not {endPoint.GetType().Name} (index {i})");
            }
            else if (!(endPoint is IPEndPoint { Port: 0 }) && !seen.Add(endPoint))
            {
                Fail(nameof(EndPoints), $"must not contain {endPoint} twice");
            }
        }

        ValidateIPEndPoints(UdpEndPoints, nameof(UdpEndPoints), new HashSet<EndPoint>());
        ValidateIPEndPoints(TlsEndPoints, nameof(TlsEndPoints), seen);
        Udp.AddValidationErrors(Fail);
        Tls.AddValidationErrors(Fail, TlsEndPoints.Count > 0);
        ProxyProtocol.AddValidationErrors(Fail, ReceiveBufferSize);

        if (Backlog <= 0)
        {
            Fail(nameof(Backlog), $"must be greater than 0 (was {Backlog})");
        }

        if (MaxConnections <= 0)
        {
            Fail(nameof(MaxConnections), $"must be greater than 0 (was {MaxConnections})");
        }

        if (ReceiveBufferSize is < MinReceiveBufferSize or > MaxReceiveBufferSize)
        {
            Fail(nameof(ReceiveBufferSize), $"must be between {MinReceiveBufferSize} and {MaxReceiveBufferSize} bytes (was {ReceiveBufferSize})");
        }

        ValidateOptionalTimeout(IdleTimeout, nameof(IdleTimeout));

        ValidateOptionalTimeout(SendTimeout, nameof(SendTimeout));
        ValidateOptionalTimeout(MaxConnectionLifetime, nameof(MaxConnectionLifetime));

        if (MaxBytesPerConnection is <= 0)
        {
            Fail(nameof(MaxBytesPerConnection), $"must be greater than 0, or null to turn it off (was {MaxBytesPerConnection})");
        }

        if (MaxConnectionsPerAddress is <= 0)
        {
            Fail(nameof(MaxConnectionsPerAddress), $"must be greater than 0, or null to turn it off (was {MaxConnectionsPerAddress})");
        }

        if (MaxConnectionRate is <= 0)
        {
            Fail(nameof(MaxConnectionRate), $"must be greater than 0, or null to turn it off (was {MaxConnectionRate})");
        }

        if (ShutdownTimeout < TimeSpan.Zero || ShutdownTimeout.TotalMilliseconds > int.MaxValue)
        {
            Fail(nameof(ShutdownTimeout), $"must be zero or greater and at most {TimeSpan.FromMilliseconds(int.MaxValue)} (was {ShutdownTimeout})");
        }

        ValidateGreeting(Fail);
        ValidateFaults(Fail);
        return errors;

        // TCP and TLS endpoints share one port space (seen holds the TCP ones); UDP has its own.
        void ValidateIPEndPoints(IList<IPEndPoint> endPoints, string name, HashSet<EndPoint> taken)
        {
            var own = new HashSet<EndPoint>();
            for (var i = 0; i < endPoints.Count; i++)
            {
                var endPoint = endPoints[i];
                if (endPoint is null)
                {
                    Fail(name, $"must not contain null (index {i})");
                }
                else if (endPoint.Port != 0 && !own.Add(endPoint))
                {
                    Fail(name, $"must not contain {endPoint} twice");
                }
                else if (endPoint.Port != 0 && taken.Contains(endPoint))
                {
                    Fail(name, $"must not contain {endPoint}, which EndPoints already listens on with TCP");
                }
            }
        }

        void ValidateOptionalTimeout(TimeSpan? value, string name)
        {
            if (value is { } timeout && (timeout <= TimeSpan.Zero || timeout.TotalMilliseconds > int.MaxValue))
            {
                Fail(name, $"must be greater than zero and at most {TimeSpan.FromMilliseconds(int.MaxValue)}, or null to turn it off (was {timeout})");
            }
        }
    }

    /// <summary>Set by <see cref="FaultProxy"/> only: each accepted connection is relayed to this upstream instead of echoed.</summary>
    internal ProxyUpstream? Upstream { get; set; }

    /// <summary>
    /// For a fault proxy: what is wrong with <paramref name="rule"/> when it fits none of the proxy's listeners (so it
    /// would never act), or <see langword="null"/>. An echo server leaves such a rule be: its listeners may change per run.
    /// </summary>
    internal string? CheckProxyRule(EchoFault rule)
    {
        var info = FaultTypes.Of(rule.Type);
        var stream = EndPoints.Any(e => e is not UnixDomainSocketEndPoint) && info.Fits(EchoTransport.Tcp)
            || EndPoints.Any(e => e is UnixDomainSocketEndPoint) && info.Fits(EchoTransport.Unix);
        var datagram = UdpEndPoints.Count > 0 && info.Fits(EchoTransport.Udp);
        if (!stream && !datagram)
        {
            return $"fits {info.TransportList}, and the proxy listens on {(UdpEndPoints.Count > 0 ? EndPoints.Count > 0 ? "stream and UDP" : "UDP only" : "stream only")} endpoints";
        }

        return rule.TargetTransport is EchoTransport.Tls ? "targets TLS (on=tls), and a proxy has no TLS listener: TLS passes through it as plain bytes" : null;
    }

    internal EchoServerOptions Clone()
    {
        var copy = new EchoServerOptions
        {
            DualMode = DualMode,
            Backlog = Backlog,
            MaxConnections = MaxConnections,
            ReceiveBufferSize = ReceiveBufferSize,
            WaitForDataBeforeAllocatingBuffer = WaitForDataBeforeAllocatingBuffer,
            IdleTimeout = IdleTimeout,
            SendTimeout = SendTimeout,
            MaxConnectionLifetime = MaxConnectionLifetime,
            MaxBytesPerConnection = MaxBytesPerConnection,
            MaxConnectionsPerAddress = MaxConnectionsPerAddress,
            MaxConnectionRate = MaxConnectionRate,
            ShutdownTimeout = ShutdownTimeout,
            NoDelay = NoDelay,
            KeepAlive = KeepAlive,
            FaultSeed = FaultSeed,
            FaultSelector = FaultSelector,
            Greeting = Greeting,
            InstanceName = InstanceName,
            Upstream = Upstream,
        };
        foreach (var fault in Faults)
        {
            copy.Faults.Add(fault);
        }

        foreach (var endPoint in EndPoints)
        {
            copy.EndPoints.Add(endPoint);
        }

        foreach (var endPoint in UdpEndPoints)
        {
            copy.UdpEndPoints.Add(endPoint);
        }

        foreach (var endPoint in TlsEndPoints)
        {
            copy.TlsEndPoints.Add(endPoint);
        }

        copy.Udp.CopyFrom(Udp);
        copy.Tls.CopyFrom(Tls);
        copy.ProxyProtocol.CopyFrom(ProxyProtocol);
        return copy;
    }

    /// <summary>A greeting must fit in one receive buffer however long the endpoints it names are.</summary>
    private void ValidateGreeting(Action<string, string> fail)
    {
        if (string.IsNullOrEmpty(InstanceName))
        {
            fail(nameof(InstanceName), "must not be empty");
        }

        if (Greeting is null)
        {
            return;
        }

        if (Greeting.Length == 0)
        {
            fail(nameof(Greeting), "must not be empty, or null to turn it off");
            return;
        }

        var longest = Internal.GreetingText.LongestByteCount(Greeting, InstanceName ?? "");
        if (longest > ReceiveBufferSize)
        {
            fail(nameof(Greeting), $"must fit in ReceiveBufferSize ({ReceiveBufferSize} bytes) when expanded with the longest endpoints (was up to {longest} bytes)");
        }
    }

    /// <summary>
    /// A rule must be there and must fit at least one stream endpoint (a rule that applies to nothing would be
    /// accepted and then do nothing). Endpoints are matched as configured here; the bound ones match too at run time.
    /// </summary>
    private void ValidateFaults(Action<string, string> fail)
    {
        IEnumerable<(EchoTransport Transport, EndPoint EndPoint)> Listening() =>
            EndPoints.Where(e => e is not null).Select(e => (e is UnixDomainSocketEndPoint ? EchoTransport.Unix : EchoTransport.Tcp, e))
                .Concat(TlsEndPoints.Where(e => e is not null).Select(e => (EchoTransport.Tls, (EndPoint)e)))
                .Concat(UdpEndPoints.Where(e => e is not null).Select(e => (EchoTransport.Udp, (EndPoint)e)));

        for (var i = 0; i < Faults.Count; i++)
        {
            var name = $"{nameof(Faults)}[{i}]";
            var fault = Faults[i];
            if (fault is null)
            {
                fail(name, "must not be null");
            }
            else if (!Listening().Any(l => fault.Fits(l.Transport, l.EndPoint, null)))
            {
                var why = fault.TargetTransport switch
                {
                    EchoTransport.Unix => "EndPoints has no Unix socket endpoint",
                    EchoTransport.Tcp => "EndPoints has no TCP endpoint",
                    EchoTransport.Tls => "TlsEndPoints is empty",
                    EchoTransport.Udp => "UdpEndPoints is empty",
                    _ when fault.TargetEndPoint is { } e => $"there is no endpoint {e} of a transport the rule fits",
                    _ => "there is no endpoint of a transport the rule fits",
                };
                fail(name, $"('{fault}') applies to no endpoint: {why}");
            }
        }
    }
}
