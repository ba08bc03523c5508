using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>What every part of one running server shares: options, pools, the connection set, logging and metrics.</summary>
internal sealed class ServerContext : IDisposable
{
    // Idle objects kept for reuse; more than this come and go with the GC. Idle buffers are capped by bytes,
    // so a burst of busy connections leaves at most 16 MiB of pinned buffers behind.
    private const int MaxRetainedConnections = 1024;
    private const int MaxRetainedBufferBytes = 16 * 1024 * 1024;

    /// <summary>
    /// Synchronous completions a UDP slot handles in one go before it yields its thread: a source that always has
    /// datagrams ready would otherwise hold the thread for as long as it sends, starving the other slots' work.
    /// </summary>
    public const int MaxSynchronousCompletions = 32;

    /// <summary>
    /// Synchronous completions a stream connection's pump handles in one turn before it yields its thread: one echo
    /// (wait, receive, send) and the next wait. A pipelining client whose next bytes are already there would otherwise
    /// take turn after turn while other ready connections wait, and with inline completions it holds the epoll thread.
    /// Measured against 32 (docs/BENCHMARKS.md, "One pump"): throughput +40–80 % and its p50 −35 %, message rate the
    /// same within noise, server CPU per message the same.
    /// </summary>
    public const int MaxStreamSynchronousCompletions = 4;

    private long _lastConnectionId;

    public ServerContext(EchoServer server, EchoServerOptions options, ILogger logger, EchoServerMetrics metrics, ConnectionSet connections, ServerListeners listeners, FaultPlan faults)
    {
        (Server, Options, Logger, Metrics, Connections, Listeners, Faults) = (server, options, logger, metrics, connections, listeners, faults);
        var bufferSize = options.ReceiveBufferSize;
        Buffers = new BoundedPool<byte[]>(() => GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true),
            Math.Clamp(MaxRetainedBufferBytes / bufferSize, 16, 1024));
        ConnectionPool = new BoundedPool<StreamConnection>(() => new StreamConnection(this), MaxRetainedConnections);
    }

    public EchoServer Server { get; }

    public EchoServerOptions Options { get; }

    /// <summary>A fault proxy's upstream; <see langword="null"/> for an echo server.</summary>
    public ProxyUpstream? Upstream => Options.Upstream;

    /// <summary>What errors call the server: <c>EchoServer</c>, or <c>FaultProxy</c> for a proxy's engine.</summary>
    public string OwnerName => Upstream is null ? nameof(EchoServer) : nameof(FaultProxy);

    public ILogger Logger { get; }

    public EchoServerMetrics Metrics { get; }

    public ConnectionSet Connections { get; }

    public ServerListeners Listeners { get; }

    /// <summary>The descriptor-limit defence, set at start once the listeners are bound; <see langword="null"/> where descriptors are not measured.</summary>
    public DescriptorGuard? Descriptors { get; set; }

    /// <summary>Receive buffers: pinned, so the runtime never pins per operation and the GC never moves them.</summary>
    public BoundedPool<byte[]> Buffers { get; }

    public BoundedPool<StreamConnection> ConnectionPool { get; }

    /// <summary>Rate-limits the PROXY protocol's rejection warning (event 49) for the whole server.</summary>
    public LogThrottle ProxyWarnings { get; } = new();

    /// <summary>The fault rules, their seed and selector; without rules a connection pays one read and a test at accept.</summary>
    public FaultPlan Faults { get; }

    /// <summary>The next connection id; shared by every transport, so ids are unique within the server.</summary>
    public long NextConnectionId() => Interlocked.Increment(ref _lastConnectionId);

    public void Dispose()
    {
        foreach (var connection in ConnectionPool.Drain())
        {
            connection.Dispose();
        }

        Buffers.Drain();
        Descriptors?.Dispose();
        Metrics.Dispose();
    }
}
