using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A fault proxy's UDP listener: one bound socket for the clients, and a session per client source (address and
/// port) with a connected socket of its own to the upstream (<c>UdpProxyListener.Session.cs</c>), so the upstream
/// tells clients apart by the proxy's port as it would by theirs. Each direction goes through a
/// <see cref="UdpFaultPath"/> of its own (<c>stream=upstream</c> rules from client to server, the others back), the
/// same datagram path the echo server's UDP listener uses, so drop, duplicate, reorder, latency and corrupt act
/// alike and are keyed by the client's source in both directions. Datagrams travel in pooled holders
/// (<see cref="UdpProxyDatagram"/>); a held one keeps its holder, and when every holder is held the direction stops
/// receiving until one is released, as the echo listener's slots do. Sessions end after
/// <see cref="EchoServerOptions.IdleTimeout"/> without a datagram either way (60 s when none is set), and at most
/// <see cref="EchoServerOptions.MaxConnections"/> exist: a datagram from a new source beyond that is dropped.
/// </summary>
internal sealed partial class UdpProxyListener : IDisposable, IUdpCounting
{
    /// <summary>Holders per direction: the most datagrams one direction holds back at once (latency, reorder).</summary>
    private const int HoldersPerDirection = 256;

    private static readonly TimeSpan DefaultSessionIdle = TimeSpan.FromSeconds(60);

    private readonly ServerContext _context;
    private readonly Socket _socket;
    private readonly EndPoint _upstream;
    private readonly Dictionary<SocketAddress, Session> _sessions = [];
    private readonly Lock _gate = new();
    private readonly Timer _expiry;
    private readonly long _idleMs;
    private readonly CancellationTokenSource _closed = new();
    private Task _receiving = Task.CompletedTask;

    /// <summary>
    /// As an echo listener counts, from the client's side: received from clients, sent back to them (<c>Echoed</c>, once
    /// per datagram; bytes per copy), dropped by a rule in either direction (<c>FaultDropped</c>), a send that failed,
    /// and datagrams from new sources beyond the session cap (<c>Blocked</c>). Written by several loops: Interlocked.
    /// </summary>
    private UdpCounters _counters;

    private UdpProxyListener(ServerContext context, Socket socket, IPEndPoint bound, EndPoint upstream)
    {
        _context = context;
        _socket = socket;
        _upstream = upstream;
        EndPoint = bound;
        var tags = EchoListener.CreateTags(bound, "udp");
        Tags = tags;
        var seed = context.Faults.Seed;
        var sources = context.Options.Udp.MaxTrackedSources;
        ToUpstream = new Direction(this, FaultDirection.Upstream, tags, seed, sources);
        ToClient = new Direction(this, FaultDirection.Downstream, tags, seed, sources);
        _idleMs = (long)(context.Options.IdleTimeout ?? DefaultSessionIdle).TotalMilliseconds;
        _expiry = new Timer(_ => ExpireIdleSessions(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The endpoint actually bound.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Metric tags: <c>server.address</c>, <c>server.port</c>, <c>network.transport</c> = <c>udp</c>, <c>network.type</c>.</summary>
    public TagList Tags { get; }

    /// <summary>Client to upstream: the <c>stream=upstream</c> rules.</summary>
    public Direction ToUpstream { get; }

    /// <summary>Upstream to client: the downstream rules.</summary>
    public Direction ToClient { get; }

    /// <summary>Completes when the client loop and every session have ended after <see cref="Dispose"/>.</summary>
    public Task Stopped => _receiving;

    /// <summary>Binds, or throws an <see cref="IOException"/> naming the endpoint. A host name upstream is resolved once, here.</summary>
    public static UdpProxyListener Bind(ServerContext context, IPEndPoint endPoint)
    {
        var upstream = context.Upstream!.EndPoint is DnsEndPoint dns
            ? new IPEndPoint(Dns.GetHostAddresses(dns.Host, dns.AddressFamily)[0], dns.Port)
            : context.Upstream.EndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw EchoListener.BindFailed(endPoint, "UDP ", ex, context.OwnerName);
        }

        return new UdpProxyListener(context, socket, (IPEndPoint)socket.LocalEndPoint!, upstream);
    }

    /// <summary>Starts receiving from clients and the idle-session sweep.</summary>
    public void Start()
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_idleMs / 4, 10, 1000));
        _expiry.Change(period, period);
        _receiving = Task.Run(ReceiveFromClientsAsync);
    }

    /// <summary>Closes the socket and every session; held datagrams are dropped.</summary>
    public void Dispose()
    {
        _closed.Cancel();
        _expiry.Dispose();
        _socket.Dispose();
        Session[] sessions;
        lock (_gate)
        {
            sessions = [.. _sessions.Values];
            _sessions.Clear();
        }

        foreach (var session in sessions)
        {
            session.Close();
        }

        ToUpstream.Faults.Stop();
        ToClient.Faults.Stop();
    }

    /// <summary>The client loop: each datagram into a holder, to its source's session (made on its first datagram), through the upstream rules.</summary>
    private async Task ReceiveFromClientsAsync()
    {
        var source = new SocketAddress(_socket.AddressFamily);
        while (!_closed.IsCancellationRequested)
        {
            var datagram = await ToUpstream.RentAsync(_closed.Token).ConfigureAwait(false);
            if (datagram is null)
            {
                return;
            }

            int received;
            try
            {
                received = await _socket.ReceiveFromAsync(datagram.Buffer, SocketFlags.None, source, _closed.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                ToUpstream.Return(datagram);
                if (_closed.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            Interlocked.Increment(ref _counters.Received);
            Interlocked.Add(ref _counters.BytesReceived, received);
            if (SessionFor(source) is not { } session)
            {
                Interlocked.Increment(ref _counters.Blocked);
                ToUpstream.Return(datagram);
                continue;
            }

            ToUpstream.Forward(datagram, session, received);
        }
    }

    public UdpCounters ReadCounters() => UdpCounters.Read(ref _counters);

    /// <summary>A datagram that left for the client (<paramref name="copies"/> times, <paramref name="bytes"/> each; <paramref name="sent"/> of them went).</summary>
    private void CountToClient(int copies, int sent, int bytes)
    {
        if (sent > 0)
        {
            Interlocked.Add(ref _counters.BytesSent, (long)sent * bytes);
            Interlocked.Increment(ref _counters.Echoed);
        }

        if (sent < copies)
        {
            Interlocked.Increment(ref _counters.SendFailed);
        }
    }

    /// <summary>A datagram a rule dropped (or a held one the stop dropped), in either direction.</summary>
    private void CountFaultDropped() => Interlocked.Increment(ref _counters.FaultDropped);

    /// <summary>The session of <paramref name="source"/>, made on its first datagram; <see langword="null"/> at the session cap or when closed.</summary>
    private Session? SessionFor(SocketAddress source)
    {
        lock (_gate)
        {
            if (_sessions.TryGetValue(source, out var session))
            {
                session.Touch();
                return session;
            }

            if (_closed.IsCancellationRequested || _sessions.Count >= _context.Options.MaxConnections)
            {
                return null;
            }

            session = Session.Open(this, source);
            if (session is not null)
            {
                _sessions.Add(session.ClientAddress, session);
            }

            return session;
        }
    }

    /// <summary>Ends the sessions that saw no datagram for the idle time.</summary>
    private void ExpireIdleSessions()
    {
        var now = Environment.TickCount64;
        List<Session>? idle = null;
        lock (_gate)
        {
            foreach (var session in _sessions.Values)
            {
                if (now - session.LastActivity > _idleMs)
                {
                    (idle ??= []).Add(session);
                }
            }

            foreach (var session in idle ?? [])
            {
                _sessions.Remove(session.ClientAddress);
            }
        }

        foreach (var session in idle ?? [])
        {
            session.Close();
        }
    }

    /// <summary>The source key and port a <see cref="UdpFaultPath"/> keys a client's draws by.</summary>
    private static (UdpSourceKey Key, int Port) KeyOf(SocketAddress address)
    {
        var source = new UdpSource(address.Family);
        source.Create(address);
        return (source.Key, source.SourcePort);
    }

    /// <summary>A timestamp for the fault path.</summary>
    private static long Now => Stopwatch.GetTimestamp();
}
