using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// One client connection: a socket, one reusable <see cref="SocketAsyncEventArgs"/> and, while data is in
/// flight, one pooled buffer. Pooled and reused for later connections. Exactly one I/O operation or one pump
/// runs at a time, so the pump alone owns the close and the return to the pool; other threads only decide a
/// close reason and poke the socket (<see cref="Abort"/>, <see cref="BeginGracefulClose"/>).
/// </summary>
internal sealed partial class EchoConnection : ServedConnection, IThreadPoolWorkItem, IDisposable
{
    private const int Open = -1;

    private readonly ServerContext _context;
    private readonly IoEventArgs _args;
    private Socket? _socket;
    private int _closeReason = Open;
    private bool _closeStarted;
    private SocketError _closeError;
    private long _startTimestamp;
    private long _startTick;
    private EndPoint? _localEndPoint;
    private EndPoint? _remoteEndPoint;

    public EchoConnection(ServerContext context)
    {
        _context = context;
        _args = new IoEventArgs(this);
    }

    public void Initialize(long id, EchoListener listener, Socket socket)
    {
        Id = id;
        Listener = listener;
        _socket = socket;
        _closeReason = Open;
        _closeStarted = false;
        _state = (int)Step.Receive;
        _resume = Step.Start;
        _closeError = SocketError.Success;
        BytesReceived = BytesSent = 0;
        _startTimestamp = Stopwatch.GetTimestamp();
        LastActivity = _startTick = Environment.TickCount64;
        var options = _context.Options;
        if (options.MaxConnectionsPerAddress is not null || _context.Server.WantsConnectionDetails(_context.Logger))
        {
            _localEndPoint = TryGet(static s => s.LocalEndPoint, socket);
            _remoteEndPoint = TryGet(static s => s.RemoteEndPoint, socket);
        }

        RemoteAddress = CountedAddress(options, _remoteEndPoint);
    }

    /// <summary>
    /// Decides a close reason if none was decided yet and closes the socket, so any pending operation completes
    /// at once. Call only under the manager's lock (while the connection is surely live).
    /// </summary>
    public override void Abort(ConnectionCloseReason reason)
    {
        TryDecide(reason, SocketError.Success);
        _socket?.Dispose();
    }

    /// <summary>
    /// Enforces the timeouts and the lifetime limit; called by the server's housekeeping timer under the
    /// manager's lock. <paramref name="limits"/> holds milliseconds, or -1 where a limit is off.
    /// </summary>
    public override void EnforceLimits(long now, in TimeLimits limits)
    {
        var state = (Step)Volatile.Read(ref _state);
        var quietFor = now - Volatile.Read(ref LastActivity);
        if (state == Step.Drain)
        {
            // A graceful close waits for the client's FIN no longer than the shutdown timeout.
            if (quietFor > limits.DrainMs)
            {
                Abort((ConnectionCloseReason)_closeReason);
            }
        }
        else if (limits.IdleMs >= 0 && quietFor > limits.IdleMs)
        {
            Abort(ConnectionCloseReason.IdleTimeout);
        }
        else if (limits.SendMs >= 0 && state == Step.Send && quietFor > limits.SendMs)
        {
            Abort(ConnectionCloseReason.SendTimeout);
        }
        else if (limits.LifetimeMs >= 0 && now - _startTick > limits.LifetimeMs)
        {
            BeginGracefulClose(ConnectionCloseReason.LifetimeExceeded);
        }
    }

    /// <summary>Turns away a connection the manager did not admit, and returns this object to the pool.</summary>
    public void Reject(ConnectionRejectionReason reason)
    {
        var context = _context;
        var listener = Listener;
        var local = _localEndPoint;
        var remote = _remoteEndPoint;
        _socket!.Dispose();
        ReturnToPool();
        context.Metrics.ConnectionRejected(listener);
        EchoServerLog.ConnectionRejected(context.Logger, remote, local, reason);
        context.Server.RaiseConnectionRejected(local, remote, reason);
    }

    public void Dispose() => _args.Dispose();

    private bool TryDecide(ConnectionCloseReason reason, SocketError error)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, Open) != Open)
        {
            return false;
        }

        _closeError = error;
        return true;
    }

    private bool IsClosing => Volatile.Read(ref _closeReason) != Open;

    /// <summary>Ends the connection: called once, by the pump, after the last operation completed.</summary>
    private void Close()
    {
        _closeStarted = true;
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        var reason = (ConnectionCloseReason)_closeReason;
        var socket = _socket!;
        if (reason is ConnectionCloseReason.ClientClosed or ConnectionCloseReason.ServerStopping)
        {
            try
            {
                // Everything received was echoed: send FIN after the data still in the kernel's send buffer.
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer or an abort got there first.
            }
        }

        socket.Dispose();
        ReleaseBuffer();

        var context = _context;
        var listener = Listener;
        context.Connections.Remove(this);
        context.Metrics.ConnectionEnded(listener, reason, _startTimestamp);
        if (context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.ConnectionClosed(context.Logger, Id, reason, _closeError, BytesReceived, BytesSent);
        }

        var closed = context.Server.HasConnectionClosedSubscribers
            ? new ConnectionClosedEventArgs(Id, _localEndPoint, _remoteEndPoint, reason, _closeError, BytesReceived, BytesSent, Stopwatch.GetElapsedTime(_startTimestamp))
            : null;
        ReturnToPool();
        if (closed is not null)
        {
            context.Server.RaiseConnectionClosed(closed);
        }

        context.Connections.Released();
    }

    private void ReturnToPool()
    {
        _socket = null;
        _localEndPoint = _remoteEndPoint = null;
        Listener = null!;
        if (!_context.ConnectionPool.Return(this))
        {
            Dispose();
        }
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

    private sealed class IoEventArgs(EchoConnection connection) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => connection.OnIoCompleted();
    }
}
