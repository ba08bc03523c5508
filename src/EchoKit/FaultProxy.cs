using System.Diagnostics.Metrics;
using System.Net;
using EchoKit.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EchoKit;

/// <summary>
/// A TCP (or Unix socket) proxy that puts EchoKit's faults between any client and its real server: each accepted
/// connection gets one connection to <see cref="FaultProxyOptions.Upstream"/> and two relays, client to server
/// (<see cref="FaultDirection.Upstream"/>) and server to client (<see cref="FaultDirection.Downstream"/>), each shaped by the
/// rules of its stream. It runs on the echo server's engine: pooled socket operations, one buffer per busy direction,
/// nothing allocated per relayed message, the same seed, rule changes, events, logs (category <c>EchoKit.FaultProxy</c>)
/// and metrics (<c>echokit.proxy.*</c>). See docs/PROXY.md.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly EchoServer _engine;

    /// <summary>Creates a proxy; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; copied, then validated.</param>
    /// <param name="loggerFactory">Where to log (category <c>EchoKit.FaultProxy</c>); none when <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>EchoKit</c> meter; a private meter is used when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option is invalid; the message names it and its rule.</exception>
    public FaultProxy(FaultProxyOptions options, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var engineOptions = options.ToServerOptions();
        Upstream = engineOptions.Upstream!.EndPoint;
        _engine = new EchoServer(engineOptions, (ILogger?)loggerFactory?.CreateLogger<FaultProxy>() ?? NullLogger.Instance, meterFactory, EchoServerMetrics.ProxyPrefix)
        {
            EventSender = this,
        };
    }

    /// <summary>
    /// Raised when a client connection has been accepted, before its upstream connection is made, on a thread-pool
    /// thread; <see cref="ConnectionAcceptedEventArgs.Faults"/> lists the rules it got, of both directions (each rule's <see cref="EchoFault.Stream"/> says which). A handler that throws is logged and ignored.
    /// </summary>
    public event EventHandler<ConnectionAcceptedEventArgs>? ConnectionAccepted
    {
        add => _engine.ConnectionAccepted += value;
        remove => _engine.ConnectionAccepted -= value;
    }

    /// <summary>
    /// Raised once for every accepted connection when both directions have ended: bytes received from the client,
    /// bytes sent to it, and the reason (<see cref="ConnectionCloseReason.UpstreamUnavailable"/> when the upstream could
    /// not be reached). A handler that throws is logged and ignored.
    /// </summary>
    public event EventHandler<ConnectionClosedEventArgs>? ConnectionClosed
    {
        add => _engine.ConnectionClosed += value;
        remove => _engine.ConnectionClosed -= value;
    }

    /// <summary>Raised when a connection was turned away at accept (the connection limit, a <c>refuse</c> rule, stopping). A handler that throws is logged and ignored.</summary>
    public event EventHandler<ConnectionRejectedEventArgs>? ConnectionRejected
    {
        add => _engine.ConnectionRejected += value;
        remove => _engine.ConnectionRejected -= value;
    }

    /// <summary>The upstream each connection is relayed to, as configured.</summary>
    public EndPoint Upstream { get; }

    /// <summary>The endpoints the proxy listens on, with the real ports; empty before <see cref="StartAsync"/> has completed.</summary>
    public IReadOnlyList<EndPoint> EndPoints => _engine.EndPoints;

    /// <summary>
    /// The fault rules in force: replace, add, remove or clear them while the proxy runs. A change reaches each live
    /// connection's relays at their next message (the per-message rules); a new connection gets the new rules.
    /// </summary>
    public EchoServerFaults Faults => _engine.Faults;

    /// <summary>Whether the proxy is listening: started and not yet stopped.</summary>
    public bool IsListening => _engine.IsListening;

    /// <summary>Binds every endpoint and starts accepting. If any endpoint fails to bind (for example its port is in use), none stays bound.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes when the proxy listens.</returns>
    /// <exception cref="InvalidOperationException">The proxy was already started or stopped.</exception>
    /// <exception cref="IOException">An endpoint could not be bound; the message names it.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default) => _engine.StartAsync(cancellationToken);

    /// <summary>Stops accepting and closes every relayed connection (both sides). Safe to call more than once.</summary>
    /// <param name="cancellationToken">Not needed: a proxy has no drain; kept for symmetry with <see cref="EchoServer.StopAsync"/>.</param>
    /// <returns>A task that completes when every connection is closed.</returns>
    public Task StopAsync(CancellationToken cancellationToken = default) => _engine.StopAsync(cancellationToken);

    /// <summary>Stops at once, as <see cref="StopAsync"/> does.</summary>
    /// <returns>A task that completes when the proxy has stopped.</returns>
    public ValueTask DisposeAsync() => _engine.DisposeAsync();

    /// <summary>
    /// A consistent snapshot of the proxy's counters, from the clients' side: connections, bytes received from clients
    /// and sent to them, and for UDP the datagrams received from clients, sent back to them (<c>DatagramsEchoed</c>),
    /// dropped by a rule in either direction (<c>DatagramsFaultDropped</c>) or from sources beyond the session cap
    /// (<c>DatagramsBlocked</c>).
    /// </summary>
    /// <param name="transport">The transport whose listeners are counted; <see langword="null"/> (the default) counts every listener.</param>
    /// <returns>The counters at one instant.</returns>
    public EchoServerStatistics GetStatistics(EchoTransport? transport = null) => _engine.GetStatistics(transport);

    /// <summary>Connections (two per relayed client) and buffers rented from the pools and not returned; for tests.</summary>
    internal (long Connections, long Buffers) PoolOutstanding => _engine.PoolOutstanding;
}
