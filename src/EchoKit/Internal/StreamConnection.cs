using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// The life of one stream connection (TCP, Unix socket or TLS) from admission to release: identity, endpoints,
/// counters, the phase, the first-wins close reason (<c>StreamConnection.Closing.cs</c>), rejection and the one
/// close sequence. A subclass keeps only its pump (<see cref="SocketConnection"/>, <see cref="TlsConnection"/>).
/// Exactly one operation of the pump runs at a time, so the pump alone closes the connection and releases it; other
/// threads, under the <see cref="ConnectionSet"/>'s lock, only decide a close reason and poke the socket
/// (<see cref="Abort"/>, <see cref="BeginGracefulClose"/>, <see cref="EnforceLimits"/>).
/// </summary>
internal abstract partial class StreamConnection
{
    /// <summary>Written only by the pump; read under the set's lock for statistics (atomic on 64-bit).</summary>
    public long BytesReceived;

    public long BytesSent;

    /// <summary><see cref="Environment.TickCount64"/> of the last completed receive or send, for the time limits.</summary>
    public long LastActivity;

    // Links in the ConnectionSet's list, guarded by its lock.
    public StreamConnection? Previous;
    public StreamConnection? Next;

    private int _phase;
    private long _startTimestamp;
    private long _startTick;
    private byte[]? _buffer;

    protected StreamConnection(ServerContext context) => Context = context;

    public long Id { get; private set; }

    public EchoListener Listener { get; private set; } = null!;

    /// <summary>The client's IP address, known only when <see cref="EchoServerOptions.MaxConnectionsPerAddress"/> needs it.</summary>
    public IPAddress? RemoteAddress { get; private set; }

    protected ServerContext Context { get; }

    protected Socket? Socket { get; private set; }

    /// <summary>Fetched at accept only when an event handler, the debug log, a per-address limit or a greeting will use them.</summary>
    protected EndPoint? LocalEndPoint { get; private set; }

    protected EndPoint? RemoteEndPoint { get; private set; }

    /// <summary>The buffer the pump holds while data is in flight; see <see cref="RentBuffer"/>.</summary>
    protected byte[]? Buffer => _buffer;

    protected ConnectionPhase Phase => (ConnectionPhase)Volatile.Read(ref _phase);

    /// <summary>Binds this (new or pooled) object to a freshly accepted socket; see <see cref="Begin"/>.</summary>
    public abstract void Initialize(long id, EchoListener listener, Socket socket);

    /// <summary>Starts serving an admitted connection; called on the accept loop, so it must not block.</summary>
    public abstract void Start();

    /// <summary>The common part of <see cref="Initialize"/>: identity, counters, clocks, endpoints, and the pump's first phase.</summary>
    protected void Begin(long id, EchoListener listener, Socket socket, ConnectionPhase phase)
    {
        Id = id;
        Listener = listener;
        Socket = socket;
        _phase = (int)phase;
        ResetClosing();
        GreetingDone();
        BeginProxy(listener);
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
        DisposeTransport();
        ClearAndRelease();
        context.Metrics.ConnectionRejected(listener);
        EchoServerLog.ConnectionRejected(context.Logger, remote, local, reason);
        context.Server.RaiseConnectionRejected(local, remote, reason);
    }

    protected void SetPhase(ConnectionPhase phase) => Volatile.Write(ref _phase, (int)phase);

    /// <summary>
    /// Enters a phase a stop may claim, then checks for a close decided meanwhile: the full fence makes sure a stop
    /// that looked at the phase before this write has decided its reason by the time of the check. Returns whether to go on.
    /// </summary>
    protected bool TryEnter(ConnectionPhase phase)
    {
        Interlocked.Exchange(ref _phase, (int)phase);
        return !IsClosing;
    }

    /// <summary>Moves from one phase to another unless something (a stop) moved it first.</summary>
    protected bool TryMovePhase(ConnectionPhase from, ConnectionPhase to) =>
        Interlocked.CompareExchange(ref _phase, (int)to, (int)from) == (int)from;

    protected byte[] RentBuffer() => _buffer ??= Context.Buffers.Rent();

    protected void ReleaseBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            Context.Buffers.Return(buffer);
        }
    }

    /// <summary>
    /// Closes the transport at the end of the connection. A client that closed has had every byte echoed and its FIN
    /// read, so closing the socket sends our FIN behind the data still in the kernel's send buffer (no shutdown call
    /// needed: one system call less per connection); a stop sends FIN first, in case its drain was cut short.
    /// </summary>
    protected virtual void CloseTransport(ConnectionCloseReason reason)
    {
        if (reason is ConnectionCloseReason.ServerStopping)
        {
            try
            {
                Socket!.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer or an abort got there first.
            }
        }

        DisposeTransport();
    }

    /// <summary>Closes the socket (and anything layered on it) at once; safe to call more than once.</summary>
    protected virtual void DisposeTransport() => Socket?.Dispose();

    /// <summary>Gives this object back once the connection is over: a pooled one returns to its pool.</summary>
    protected abstract void Release();

    /// <summary>
    /// The one close sequence, run once by the pump after its last operation: close the transport, release the buffer,
    /// leave the set, record the metrics, log, release this object, then raise <see cref="EchoServer.ConnectionClosed"/>.
    /// </summary>
    protected void Close()
    {
        if (AwaitsProxyHeader)
        {
            RejectPending();
            return;
        }

        MarkCloseStarted();
        var reason = DecideFinalReason();
        CloseTransport(reason);
        ReleaseBuffer();

        var context = Context;
        context.Connections.Remove(this, reason);
        context.Metrics.ConnectionEnded(Listener, reason, _startTimestamp);
        if (context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.ConnectionClosed(context.Logger, Id, reason, CloseError, BytesReceived, BytesSent);
        }

        var closed = context.Server.HasConnectionClosedSubscribers
            ? new ConnectionClosedEventArgs(Id, LocalEndPoint, RemoteEndPoint, reason, CloseError, BytesReceived, BytesSent, Stopwatch.GetElapsedTime(_startTimestamp))
            : null;
        ClearAndRelease();
        if (closed is not null)
        {
            context.Server.RaiseConnectionClosed(closed);
        }

        context.Connections.Released();
    }

    /// <summary>Logs and raises the accepted event; the first thing a started pump does.</summary>
    protected void ReportAccepted()
    {
        EchoServerLog.ConnectionAccepted(Context.Logger, Id, RemoteEndPoint, LocalEndPoint);
        Context.Server.RaiseConnectionAccepted(Id, LocalEndPoint, RemoteEndPoint, Faults?.Rules);
    }

    /// <summary>Marks activity (a completed receive or send, or the start of a drain) for the time limits.</summary>
    protected void Touch() => Volatile.Write(ref LastActivity, Environment.TickCount64);

    private void ClearAndRelease()
    {
        Socket = null;
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
