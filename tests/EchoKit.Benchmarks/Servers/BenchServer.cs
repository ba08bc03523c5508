using System.Net;

namespace EchoKit.Benchmarks.Servers;

/// <summary>One echo server implementation under test, listening on 127.0.0.1.</summary>
public interface IBenchServer : IAsyncDisposable
{
    /// <summary>Starts listening on 127.0.0.1:<paramref name="port"/>; returns once connections are accepted.</summary>
    Task StartAsync(int port);
}

/// <summary>The servers under test, by name.</summary>
public static class BenchServers
{
    public const string EchoKit = "echokit";
    public const string Kestrel = "kestrel";
    public const string DotNetty = "dotnetty";
    public const string Naive = "naive";

    /// <summary>EchoKit with the 8 KiB receive buffer it had before aa2bc3a (64 KiB since); for diagnosis, not in the default set.</summary>
    public const string EchoKit8K = "echokit-8k";

    /// <summary>EchoKit without the zero-byte receive before each buffer rental; for diagnosis, not in the default set.</summary>
    public const string EchoKitNoWait = "echokit-nowait";

    /// <summary>
    /// EchoKit with the runtime's default completion scheduling (a thread-pool hop per completion): the library embedded
    /// in an application that does not set <see cref="InlineCompletionsVariable"/>.
    /// </summary>
    public const string EchoKitThreadPool = "echokit-threadpool";

    /// <summary>EchoKit with the PROXY protocol on; the load client sends a v2 header on each connection. For the PROXY protocol's cost per connection.</summary>
    public const string EchoKitProxy = "echokit-proxy";

    /// <summary>
    /// EchoKit with inline completions and one socket engine thread (<see cref="EngineCountVariable"/> = 1): with inline
    /// completions the runtime starts one engine per core, and on 2 cores shared with the load client two busy engine
    /// threads and the client preempt each other. For diagnosis, not in the default set.
    /// </summary>
    public const string EchoKitOneEngine = "echokit-1engine";

    /// <summary>
    /// Not a .NET server: <c>Native/echoserve.c</c>, a plain single-threaded level-triggered epoll echo server in C,
    /// compiled with gcc at run time and started in place of <c>serve</c> (<see cref="IsNative"/>). The floor the .NET
    /// servers are compared against; for diagnosis, not in the default set (so <c>smoke</c> never needs gcc).
    /// </summary>
    public const string CEpoll = "c-epoll";

    /// <summary>
    /// The upstream of the proxy comparison on its own (the same program as <see cref="CEpoll"/>): the reference a
    /// proxy's added latency is measured from. Not in the default set (needs gcc).
    /// </summary>
    public const string Direct = "direct";

    /// <summary>EchoKit's <see cref="FaultProxy"/> with no rules in front of a <see cref="CEpoll"/> upstream, with inline completions as for <see cref="EchoKit"/>.</summary>
    public const string ProxyEchoKit = "proxy-echokit";

    /// <summary>HAProxy (<c>/usr/sbin/haproxy</c>, <c>mode tcp</c>) in front of a <see cref="CEpoll"/> upstream; started by the orchestrator with a generated config (Orchestration/HAProxy.cs).</summary>
    public const string ProxyHAProxy = "proxy-haproxy";

    /// <summary>The textbook .NET proxy (TcpListener, a TcpClient per connection, two <c>Stream.CopyToAsync</c>) in front of a <see cref="CEpoll"/> upstream.</summary>
    public const string ProxyNaive = "proxy-naive";

    /// <summary>Kestrel tuned like the EchoKit hosts: inline socket completions and <c>UnsafePreferInlineScheduling</c>.</summary>
    public const string KestrelInline = "kestrel-inline";

    /// <summary>
    /// Makes the runtime run socket completions on its epoll thread. The EchoKit sample and <c>echokit serve</c> set it
    /// (without TLS), so the <c>echokit</c> server process here gets it too.
    /// </summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The runtime's count of socket engine threads (each an epoll loop).</summary>
    public const string EngineCountVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>The default comparison set.</summary>
    public static readonly IReadOnlyList<string> All = [EchoKit, Kestrel, DotNetty, Naive];

    /// <summary>Every server <see cref="Create"/> knows.</summary>
    public static readonly IReadOnlyList<string> Known = [.. All, EchoKit8K, EchoKitNoWait, EchoKitThreadPool, KestrelInline, EchoKitProxy, EchoKitOneEngine, CEpoll, Direct, ProxyEchoKit, ProxyHAProxy, ProxyNaive];

    /// <summary>The proxy comparison (issue 18): the upstream alone and three proxies in front of it. Needs gcc and haproxy, so not in the default set.</summary>
    public static readonly IReadOnlyList<string> Proxies = [Direct, ProxyEchoKit, ProxyHAProxy, ProxyNaive];

    /// <summary>Whether <paramref name="name"/> is a C program (<c>Native/</c>) the orchestrator compiles and starts itself rather than a <c>serve</c> process.</summary>
    public static bool IsNative(string name) => name is CEpoll or Direct;

    /// <summary>Whether <paramref name="name"/> is HAProxy, started by the orchestrator with a generated config rather than a <c>serve</c> process.</summary>
    public static bool IsHAProxy(string name) => name == ProxyHAProxy;

    /// <summary>
    /// The server a proxy relays to, which the orchestrator starts first (one per measurement) and passes to the proxy;
    /// <see langword="null"/> for a server that is not a proxy. The proxy's own process is the one measured.
    /// </summary>
    public static string? UpstreamOf(string name) => name is ProxyEchoKit or ProxyHAProxy or ProxyNaive ? CEpoll : null;

    /// <summary>Environment variables the server's process needs, set before the runtime starts.</summary>
    public static IReadOnlyDictionary<string, string> EnvironmentFor(string name) => name switch
    {
        EchoKit or EchoKit8K or EchoKitNoWait or EchoKitProxy or KestrelInline or ProxyEchoKit => new Dictionary<string, string> { [InlineCompletionsVariable] = "1" },
        EchoKitOneEngine => new Dictionary<string, string> { [InlineCompletionsVariable] = "1", [EngineCountVariable] = "1" },
        _ => new Dictionary<string, string>(),
    };

    /// <summary>Creates the .NET server <paramref name="name"/>; a proxy needs its <paramref name="upstream"/> (<see cref="UpstreamOf"/>).</summary>
    public static IBenchServer Create(string name, IPEndPoint? upstream = null) => name switch
    {
        ProxyEchoKit => new FaultProxyBenchServer(upstream ?? throw UpstreamMissing(name)),
        ProxyNaive => new NaiveProxyBenchServer(upstream ?? throw UpstreamMissing(name)),
        ProxyHAProxy => throw new ArgumentException($"'{ProxyHAProxy}' is /usr/sbin/haproxy, not a .NET server: run writes its config and starts it.", nameof(name)),
        Direct => throw new ArgumentException($"'{Direct}' is Native/echoserve.c (as {CEpoll}), not a .NET server.", nameof(name)),
        EchoKit => new EchoKitBenchServer(),
        EchoKit8K => new EchoKitBenchServer(o => o.ReceiveBufferSize = 8 * 1024),
        EchoKitNoWait => new EchoKitBenchServer(o => o.WaitForDataBeforeAllocatingBuffer = false),
        EchoKitThreadPool or EchoKitOneEngine => new EchoKitBenchServer(),
        EchoKitProxy => new EchoKitBenchServer(o => o.ProxyProtocol.Enabled = true),
        Kestrel => new KestrelBenchServer(),
        KestrelInline => new KestrelBenchServer(preferInlineScheduling: true),
        DotNetty => new DotNettyBenchServer(),
        Naive => new NaiveBenchServer(),
        CEpoll => throw new ArgumentException($"'{CEpoll}' is Native/echoserve.c, not a .NET server: run compiles and starts it (by hand: gcc -O2 -o echoserve echoserve.c && ./echoserve PORT).", nameof(name)),
        _ => throw new ArgumentException($"Unknown server '{name}'; expected one of {string.Join(", ", Known)}.", nameof(name)),
    };

    private static ArgumentException UpstreamMissing(string name) =>
        new($"'{name}' is a proxy: give it its upstream (serve {name} --port N --upstream 127.0.0.1:M).", nameof(name));
}
