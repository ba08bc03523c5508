using System.Diagnostics.Metrics;
using System.Net;
using EchoKit.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EchoKit;

/// <summary>
/// An RFC 862 echo server: every byte a client sends on a connection is sent back to it, in order, until the
/// client closes, and every UDP datagram is sent back to its source. One server listens on any mix of TCP, UDP,
/// TLS and Unix socket endpoints. Start it with <see cref="StartAsync"/>, read the real bound
/// <see cref="EndPoints"/> (or <see cref="Listeners"/>, with their transports), and stop it with
/// <see cref="StopAsync"/> (graceful) or <see cref="DisposeAsync"/> (immediate).
/// </summary>
public sealed partial class EchoServer : IAsyncDisposable
{
    private readonly Lock _stateLock = new();
    private readonly EchoServerOptions _options;
    private readonly ILogger _logger;
    private readonly ConnectionSet _connections;
    private readonly ServerListeners _listeners = new();

    /// <summary>A fault proxy's UDP listeners (an echo server's are in <see cref="_listeners"/>).</summary>
    private readonly List<UdpProxyListener> _udpProxies = [];

    private readonly ServerStatistics _statistics;
    private readonly ServerContext _context;
    private readonly CancellationTokenSource _abortDrain = new();
    private IReadOnlyList<EndPoint> _endPoints = [];
    private Timer? _housekeeping;
    private State _state;
    private Task? _stopTask;

    /// <summary>Creates a server; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; copied, then validated.</param>
    /// <param name="loggerFactory">Where to log (category <c>EchoKit.EchoServer</c>); none when <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>EchoKit</c> meter; a private meter is used when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option is invalid; the message names it and its rule.</exception>
    public EchoServer(EchoServerOptions options, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
        : this(options, (ILogger?)loggerFactory?.CreateLogger<EchoServer>() ?? NullLogger.Instance, meterFactory, EchoServerMetrics.ServerPrefix)
    {
    }

    /// <summary>The engine of an echo server or, with <see cref="EchoServerOptions.Upstream"/>, of a <see cref="FaultProxy"/>.</summary>
    internal EchoServer(EchoServerOptions options, ILogger logger, IMeterFactory? meterFactory, string metricPrefix)
    {
        ArgumentNullException.ThrowIfNull(options);
        EventSender = this;
        _options = options.Clone();
        _options.Validate();
        _logger = logger;
        _connections = new ConnectionSet(_options);
        _statistics = new ServerStatistics(_connections, _listeners);
        // Random.Shared (seeded by the OS) picks a seed that is only a replay key, not a secret; RandomNumberGenerator
        // would load OpenSSL into every process that makes a server, 5.6 MiB of RSS (measured) for nothing.
        var plan = new FaultPlan(_options.Faults, _options.FaultSeed ?? Random.Shared.Next(int.MinValue, int.MaxValue), _options.FaultSelector, _logger);
        _context = new ServerContext(this, _options, _logger, new EchoServerMetrics(meterFactory, _statistics, _listeners, metricPrefix), _connections, _listeners, plan);
        Faults = new EchoServerFaults(plan, OnFaultsChanged, _options.Upstream is null ? null : _options.CheckProxyRule);
    }

    private enum State
    {
        Created,
        Starting,
        Running,
        Stopped,
    }

    /// <summary>
    /// The endpoints the server is listening on, with the real ports (when port 0 was asked for), in the order of
    /// <see cref="EchoServerOptions.EndPoints"/>, then <see cref="EchoServerOptions.UdpEndPoints"/>, then
    /// <see cref="EchoServerOptions.TlsEndPoints"/>; empty before <see cref="StartAsync"/> has completed. A TCP and a
    /// UDP endpoint may be equal: <see cref="Listeners"/> tells them apart.
    /// </summary>
    public IReadOnlyList<EndPoint> EndPoints => _endPoints;

    /// <summary>
    /// Every listener with its transport, in the same order as <see cref="EndPoints"/>; empty before
    /// <see cref="StartAsync"/> has completed.
    /// </summary>
    public IReadOnlyList<EchoListenerInfo> Listeners => _listeners.Infos;

    /// <summary>
    /// The fault rules in force, starting with <see cref="EchoServerOptions.Faults"/>: replace, add, remove or clear
    /// them while the server runs (see <see cref="EchoServerFaults"/> for when a change reaches a connection).
    /// </summary>
    public EchoServerFaults Faults { get; }

    /// <summary>
    /// Whether the server is listening: <see cref="StartAsync"/> has completed and <see cref="StopAsync"/> has not been
    /// called yet. What a readiness probe asks.
    /// </summary>
    public bool IsListening
    {
        get
        {
            lock (_stateLock)
            {
                return _state == State.Running && _stopTask is null;
            }
        }
    }

    /// <summary>
    /// Binds every endpoint (TCP, Unix socket, UDP, TLS) and starts accepting and receiving. If any endpoint fails to
    /// bind, none stays bound.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">The server was already started or stopped.</exception>
    /// <exception cref="IOException">An endpoint could not be bound (for example the port is in use); the message names it.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_stateLock)
        {
            if (_state != State.Created)
            {
                throw new InvalidOperationException($"EchoServer can be started only once; it is {_state.ToString().ToLowerInvariant()}.");
            }

            _state = State.Starting;
        }

        var infos = new List<EchoListenerInfo>();
        var streamListeners = new List<EchoListener>();
        var udpListeners = new List<UdpEchoListener>();
        try
        {
            foreach (var endPoint in _options.EndPoints)
            {
                var listener = EchoListener.Bind(_context, endPoint);
                _context.Faults.AddListener(listener, listener.Transport, listener.EndPoint, endPoint);
                streamListeners.Add(listener);
                infos.Add(new EchoListenerInfo(listener.EndPoint, listener.Transport));
            }

            if (_options.UdpEndPoints.Count > 0 && _context.Upstream is not null)
            {
                foreach (var endPoint in _options.UdpEndPoints)
                {
                    var listener = UdpProxyListener.Bind(_context, endPoint);
                    _context.Faults.AddListener(listener.ToUpstream, EchoTransport.Udp, listener.EndPoint, endPoint, FaultDirection.Upstream);
                    _context.Faults.AddListener(listener.ToClient, EchoTransport.Udp, listener.EndPoint, endPoint, FaultDirection.Downstream);
                    _udpProxies.Add(listener);
                    infos.Add(new EchoListenerInfo(listener.EndPoint, EchoTransport.Udp));
                }
            }
            else if (_options.UdpEndPoints.Count > 0)
            {
                var policy = new UdpEchoPolicy(_options.Udp);
                foreach (var endPoint in _options.UdpEndPoints)
                {
                    var listener = UdpEchoListener.Bind(_context, policy, endPoint);
                    _context.Faults.AddListener(listener, EchoTransport.Udp, listener.EndPoint, endPoint);
                    udpListeners.Add(listener);
                    infos.Add(new EchoListenerInfo(listener.EndPoint, EchoTransport.Udp));
                }
            }

            if (_options.TlsEndPoints.Count > 0)
            {
                var authentication = _options.Tls.CreateAuthenticationOptions();
                foreach (var endPoint in _options.TlsEndPoints)
                {
                    var listener = EchoListener.Bind(_context, endPoint, authentication);
                    _context.Faults.AddListener(listener, listener.Transport, listener.EndPoint, endPoint);
                    streamListeners.Add(listener);
                    infos.Add(new EchoListenerInfo(listener.EndPoint, EchoTransport.Tls));
                }
            }
        }
        catch
        {
            foreach (var listener in streamListeners)
            {
                listener.Dispose();
            }

            foreach (var listener in udpListeners)
            {
                listener.Dispose();
            }

            foreach (var listener in _udpProxies)
            {
                listener.Dispose();
            }

            lock (_stateLock)
            {
                _state = State.Stopped;
            }

            _context.Dispose();
            throw;
        }

        _listeners.Publish(streamListeners, udpListeners, infos, _udpProxies);

        // Measured with the listeners bound, so what they hold counts as open at start.
        _context.Descriptors = DescriptorGuard.Create(_context, streamListeners.Count);
        _endPoints = infos.Select(l => l.EndPoint).ToArray();
        var limits = TimeLimits.From(_options);
        _housekeeping = new Timer(_ => EnforceLimits(limits), null, limits.SweepPeriod, limits.SweepPeriod);

        lock (_stateLock)
        {
            _state = State.Running;
        }

        foreach (var info in _listeners.Infos)
        {
            EchoServerLog.Listening(_logger, info.EndPoint, info.Transport);
        }

        if (!_context.Faults.Current.IsEmpty || _context.Faults.HasSelector)
        {
            EchoServerLog.FaultsEnabled(_logger, _context.Faults.HasSelector ? $"{string.Join("; ", _context.Faults.Current.Rules)} and a selector" : string.Join("; ", _context.Faults.Current.Rules),
                _context.Faults.Seed, _options.FaultSeed is null ? " (chosen at random; set FaultSeed to replay this run)" : "");
        }

        foreach (var listener in _listeners.Stream)
        {
            listener.Start();
        }

        foreach (var listener in _listeners.Udp)
        {
            listener.Start();
        }

        foreach (var listener in _udpProxies)
        {
            listener.Start();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops gracefully: stops accepting, lets each connection finish the echo it is writing (reading nothing
    /// more) until <see cref="EchoServerOptions.ShutdownTimeout"/> passes or <paramref name="cancellationToken"/>
    /// is cancelled, then aborts what is left. Safe to call more than once and concurrently; every call completes
    /// when the server has stopped.
    /// </summary>
    /// <param name="cancellationToken">Cancel to cut the graceful drain short and abort the remaining connections.</param>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        Task stopTask;
        lock (_stateLock)
        {
            if (_state == State.Created)
            {
                _state = State.Stopped;
                _context.Dispose();
                return Task.CompletedTask;
            }

            _stopTask ??= StopCoreAsync();
            stopTask = _stopTask;
        }

        if (cancellationToken.CanBeCanceled && !stopTask.IsCompleted)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                CancelDrain();
            }
            else
            {
                var registration = cancellationToken.UnsafeRegister(static s => ((EchoServer)s!).CancelDrain(), this);
                return AwaitAndUnregister(stopTask, registration);
            }
        }

        return stopTask;

        static async Task AwaitAndUnregister(Task task, CancellationTokenRegistration registration)
        {
            await using (registration)
            {
                await task.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Stops at once: stops accepting and aborts every connection without a drain. Safe to call more than once.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public ValueTask DisposeAsync() => new(StopAsync(new CancellationToken(canceled: true)));

    /// <summary>A consistent snapshot of the server's counters, over every listener or over the listeners of one transport.</summary>
    /// <param name="transport">The transport whose listeners are counted; <see langword="null"/> (the default) counts every listener.</param>
    /// <returns>The counters at one instant; all zero when the server has no listener of that transport.</returns>
    public EchoServerStatistics GetStatistics(EchoTransport? transport = null) => _statistics.Snapshot(transport);

    /// <summary>Connections and buffers rented from the pools and not returned; for tests.</summary>
    internal (long Connections, long Buffers) PoolOutstanding => (_context.ConnectionPool.Outstanding, _context.Buffers.Outstanding);

    /// <summary>A change of the rules through <see cref="Faults"/>: logged, and raised on every live stream connection, which takes it up at its next echo.</summary>
    private void OnFaultsChanged(FaultRuleSet rules)
    {
        EchoServerLog.FaultsChanged(_logger, rules.IsEmpty ? "none" : string.Join("; ", rules.Rules), _context.Faults.Seed);
        _connections.ForEach(static c => c.OfferFaultChange());
    }

    private void CancelDrain()
    {
        try
        {
            _abortDrain.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already stopped.
        }
    }

    private async Task StopCoreAsync()
    {
        // Let the caller return before the drain: the first await below may complete synchronously.
        await Task.Yield();
        foreach (var listener in _listeners.Stream)
        {
            listener.Dispose();
        }

        // UDP has nothing to drain: a datagram being echoed is sent at once, and closing ends every pending receive.
        foreach (var listener in _listeners.Udp)
        {
            listener.Dispose();
        }

        foreach (var listener in _udpProxies)
        {
            listener.Dispose();
        }

        _housekeeping?.Dispose();
        var drained = _connections.BeginShutdown(static c => c.BeginGracefulClose(ConnectionCloseReason.ServerStopping));
        EchoServerLog.Stopping(_logger, _connections.Live, _options.ShutdownTimeout);
        try
        {
            await drained.WaitAsync(_options.ShutdownTimeout, _abortDrain.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            EchoServerLog.AbortingAfterShutdownTimeout(_logger, _connections.Live);
            _connections.ForEach(static c => c.Abort(ConnectionCloseReason.ServerStopping));
            await drained.ConfigureAwait(false);
        }

        foreach (var listener in _listeners.Udp)
        {
            await listener.Stopped.ConfigureAwait(false);
        }

        foreach (var listener in _udpProxies)
        {
            await listener.Stopped.ConfigureAwait(false);
        }

        lock (_stateLock)
        {
            _state = State.Stopped;
        }

        _context.Dispose();
        _abortDrain.Dispose();
        EchoServerLog.Stopped(_logger);
    }

    private void EnforceLimits(TimeLimits limits)
    {
        var now = Environment.TickCount64;
        _connections.ForEach(c => c.EnforceLimits(now, limits));
    }
}
