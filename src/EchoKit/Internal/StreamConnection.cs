using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// One stream connection (TCP, Unix socket or TLS) from admission to release: identity, endpoints, counters, the
/// phase, the first-wins close reason (<c>.Closing.cs</c>), rejection and the one close sequence; the one pump
/// (<c>.Pump.cs</c>) over a <see cref="StreamTransport"/>: its pooled <see cref="SocketTransport"/>, or for TLS a
/// <see cref="TlsTransport"/> over it (<c>.Tls.cs</c>); and the features above the pump (<c>.Proxy.cs</c>,
/// <c>.Greeting.cs</c>, <c>.Faults.cs</c>). Pooled and reused for later connections. Exactly one operation of the pump
/// runs at a time, so the pump alone closes the connection and releases it; other threads, under the
/// <see cref="ConnectionSet"/>'s lock, only decide a close reason and poke the transport (<see cref="Abort"/>,
/// <see cref="BeginGracefulClose"/>, <see cref="EnforceLimits"/>). The pump is a relay: it receives from its source
/// transport and sends to its sink; an echo connection's sink is its source, and a fault proxy's connection is two
/// of these objects, one relay per direction (<c>.Relay.cs</c>).
/// </summary>
internal sealed partial class StreamConnection : IStreamTransportOwner, IThreadPoolWorkItem, IDisposable
{
    /// <summary>Written only by the pump; read under the set's lock for statistics (atomic on 64-bit).</summary>
    public long BytesReceived;

    public long BytesSent;

    /// <summary><see cref="Environment.TickCount64"/> of the last completed receive or send, for the time limits.</summary>
    public long LastActivity;

    // Links in the ConnectionSet's list, guarded by its lock.
    public StreamConnection? Previous;
    public StreamConnection? Next;

    private readonly SocketTransport _socketTransport;

    /// <summary>The source: the transport the pump receives from (and, for an echo, sends to).</summary>
    private StreamTransport _transport;

    /// <summary>The sink: the transport the pump sends to; <see cref="_transport"/> itself for an echo.</summary>
    private StreamTransport _sink;
    private int _phase;
    private long _startTimestamp;
    private long _startTick;
    private byte[]? _buffer;

    public StreamConnection(ServerContext context)
    {
        Context = context;
        _transport = _sink = _socketTransport = new SocketTransport(this);
        _activity = this;
    }

    public long Id { get; private set; }

    public EchoListener Listener { get; private set; } = null!;

    /// <summary>The client's IP address, known only when <see cref="EchoServerOptions.MaxConnectionsPerAddress"/> needs it.</summary>
    public IPAddress? RemoteAddress { get; private set; }

    private ServerContext Context { get; }

    /// <summary>Fetched at accept only when an event handler, the debug log, a per-address limit or a greeting will use them.</summary>
    private EndPoint? LocalEndPoint { get; set; }

    private EndPoint? RemoteEndPoint { get; set; }

    /// <summary>The buffer the pump holds while data is in flight; see <see cref="RentBuffer"/>.</summary>
    private byte[]? Buffer => _buffer;

    private ConnectionPhase Phase => (ConnectionPhase)Volatile.Read(ref _phase);

    /// <summary>
    /// Binds this (new or pooled) object to a freshly accepted socket: identity, counters, clocks, endpoints, and the
    /// pump's first phase. That is Receive, not WaitForData: a stop before the pump starts then leaves the first wait
    /// to see the decided close (see <see cref="Run"/>), and with <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/>
    /// off it wakes the first receive. A TLS connection starts in Handshake: its handshake timeout counts from accept,
    /// and a stop closes it at once, even while it waits for the thread pool.
    /// </summary>
    public void Initialize(long id, EchoListener listener, Socket socket)
    {
        Id = id;
        Listener = listener;
        _transport = _sink = _socketTransport;
        _socketTransport.Bind(socket, nonBlocking: listener.TlsAuthentication is null);
        _stream = Context.Upstream is null ? null : FaultDirection.Upstream;
        _phase = (int)(listener.TlsAuthentication is null ? ConnectionPhase.Receive : ConnectionPhase.Handshake);
        _resume = ConnectionPhase.Start;
        _sentFin = false;
        _receiveBeforeWaiting = Context.Options.WaitForDataBeforeAllocatingBuffer;
        _headerReceived = 0;
        ResetClosing();
        GreetingDone();
        BeginProxy();
        BytesReceived = BytesSent = 0;
        _startTimestamp = Stopwatch.GetTimestamp();
        LastActivity = _startTick = Environment.TickCount64;
        var options = Context.Options;
        var faults = Context.Faults;
        if (options.MaxConnectionsPerAddress is not null || faults.HasSelector || AwaitsProxyHeader || options.Greeting is not null
            || Context.Server.WantsConnectionDetails(Context.Logger))
        {
            LocalEndPoint = TryGet(static s => s.LocalEndPoint, socket);
            RemoteEndPoint = TryGet(static s => s.RemoteEndPoint, socket);
        }

        // Behind a PROXY header the socket's address is the balancer's: the per-address slot and the faults wait for the client's.
        RemoteAddress = options.MaxConnectionsPerAddress is not null && !AwaitsProxyHeader && RemoteEndPoint is IPEndPoint ip
            ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address)
            : null;
        if (!AwaitsProxyHeader)
        {
            DecideFaults(faults, listener);
        }
    }


    /// <summary>Turns away a connection the set did not admit: closes it, releases this object, and reports the rejection.</summary>
    public void Reject(ConnectionRejectionReason reason)
    {
        var context = Context;
        var listener = Listener;
        var local = LocalEndPoint;
        var remote = RemoteEndPoint;
        _transport.Close();
        ClearAndRelease();
        context.Metrics.ConnectionRejected(listener);
        EchoServerLog.ConnectionRejected(context.Logger, remote, local, reason);
        context.Server.RaiseConnectionRejected(local, remote, reason);
    }

    private void SetPhase(ConnectionPhase phase) => Volatile.Write(ref _phase, (int)phase);

    /// <summary>
    /// Enters a phase a stop may claim, then checks for a close decided meanwhile: the full fence makes sure a stop
    /// that looked at the phase before this write has decided its reason by the time of the check. Returns whether to go on.
    /// </summary>
    private bool TryEnter(ConnectionPhase phase)
    {
        Interlocked.Exchange(ref _phase, (int)phase);
        return !IsClosing;
    }

    /// <summary>Moves from one phase to another unless something (a stop) moved it first.</summary>
    private bool TryMovePhase(ConnectionPhase from, ConnectionPhase to) =>
        Interlocked.CompareExchange(ref _phase, (int)to, (int)from) == (int)from;

    private byte[] RentBuffer() => _buffer ??= Context.Buffers.Rent();

    private void ReleaseBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            Context.Buffers.Return(buffer);
        }
    }

    /// <summary>
    /// Closes the transport at the end of the connection: RST when a fault resets it. A client that closed has had every
    /// byte echoed and its FIN read, so the close sends our FIN behind the data still in the kernel's send buffer (no
    /// shutdown call needed: one system call less per connection); a stop sends FIN first, in case its drain was cut short.
    /// </summary>
    private void CloseTransport(ConnectionCloseReason reason)
    {
        if ((Faults is { } faults && faults.End()) || (IsRelay && reason == ConnectionCloseReason.ConnectionReset))
        {
            _transport.SetAbortiveClose();
            _sink.SetAbortiveClose();
        }

        if (reason is ConnectionCloseReason.ServerStopping)
        {
            _socketTransport.ShutdownSendWhileReceiving();
        }

        _transport.Close();
        _sink.Close();
    }

    /// <summary>Gives this object back once the connection is over: to its pool, or to the GC when the pool is full.</summary>
    private void Release()
    {
        _socketTransport.Unbind();
        _transport = _sink = _socketTransport;
        ReleaseRelay();
        _tls = null;
        _handshakePrefix = null;
        if (!Context.ConnectionPool.Return(this))
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        _socketTransport.Dispose();
        _otherSocket?.Dispose();
    }

    /// <summary>
    /// The one close sequence, run once by the pump after its last operation: close the transport, release the buffer,
    /// leave the set, record the metrics, log, release this object, then raise <see cref="EchoServer.ConnectionClosed"/>.
    /// </summary>
    private void Close()
    {
        if (AwaitsProxyHeader)
        {
            RejectPending();
            return;
        }

        if (IsRelay)
        {
            EndRelay();
            return;
        }

        Finish();
    }

    /// <summary>The close sequence proper; a proxied connection's runs once both its relays ended (<see cref="EndRelay"/>).</summary>
    private void Finish()
    {
        MarkCloseStarted();
        var reason = RelayedReason(DecideFinalReason());
        CloseTransport(reason);
        ReleaseBuffer();
        var bytesSent = BytesSentToClient;

        var context = Context;
        context.Connections.Remove(this, reason);
        context.Metrics.ConnectionEnded(Listener, reason, _startTimestamp);
        if (context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.ConnectionClosed(context.Logger, Id, reason, CloseError, BytesReceived, bytesSent);
        }

        var closed = context.Server.HasConnectionClosedSubscribers
            ? new ConnectionClosedEventArgs(Id, LocalEndPoint, RemoteEndPoint, reason, CloseError, BytesReceived, bytesSent, Stopwatch.GetElapsedTime(_startTimestamp))
            : null;
        ClearAndRelease();
        if (closed is not null)
        {
            context.Server.RaiseConnectionClosed(closed);
        }

        context.Connections.Released();
    }

    /// <summary>Logs and raises the accepted event; the first thing a started pump does.</summary>
    private void ReportAccepted()
    {
        EchoServerLog.ConnectionAccepted(Context.Logger, Id, RemoteEndPoint, LocalEndPoint);
        Context.Server.RaiseConnectionAccepted(Id, LocalEndPoint, RemoteEndPoint, AcceptedRules);
    }

    /// <summary>Marks activity (a completed receive or send, or the start of a drain) for the time limits.</summary>
    private void Touch() => Volatile.Write(ref _activity.LastActivity, Environment.TickCount64);

    private void ClearAndRelease()
    {
        LocalEndPoint = RemoteEndPoint = null;
        Listener = null!;
        Release();
    }

    private static EndPoint? TryGet(Func<Socket, EndPoint?> get, Socket socket)
    {
        try
        {
            return get(socket);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }
}
