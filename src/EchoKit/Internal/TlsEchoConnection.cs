using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// One TLS client connection: a handshake bounded by <see cref="TlsEchoOptions.HandshakeTimeout"/>, then the same
/// strict turn as a TCP connection over <see cref="SslStream"/>: read into one pooled buffer
/// (<see cref="EchoServerOptions.ReceiveBufferSize"/>), write those bytes back, and only then read again, so the
/// connection holds at most one buffer of echo data and a client that does not read is held back by TCP flow
/// control. It follows <see cref="EchoConnection"/>'s contract with the <see cref="ConnectionManager"/>: the pump
/// alone closes and unregisters it; other threads only decide a close reason and poke the socket
/// (<see cref="Abort"/>, <see cref="BeginGracefulClose"/>, <see cref="EnforceLimits"/>).
/// </summary>
internal sealed class TlsEchoConnection : ServedConnection, IDisposable
{
    /// <summary>The most plaintext per write: one TLS record, so a slow reader's progress is seen record by record.</summary>
    private const int MaxWriteChunk = 16 * 1024;

    private const int Open = -1;

    private readonly ServerContext _context;
    private readonly Socket _socket;
    private readonly SslStream _ssl;
    private readonly long _startTimestamp;
    private readonly long _startTick;
    private readonly EndPoint? _localEndPoint;
    private readonly EndPoint? _remoteEndPoint;
    private int _phase = (int)Phase.Handshake;
    private int _closeReason = Open;
    private SocketError _closeError;
    private byte[]? _buffer;
    private volatile bool _handshakeTimedOut;

    private TlsEchoConnection(ServerContext context, long id, EchoListener listener, Socket socket)
    {
        _context = context;
        Id = id;
        Listener = listener;
        _socket = socket;
        _ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        _startTimestamp = Stopwatch.GetTimestamp();
        LastActivity = _startTick = Environment.TickCount64;
        var options = context.Options;
        if (options.MaxConnectionsPerAddress is not null || context.Server.WantsConnectionDetails(context.Logger))
        {
            _localEndPoint = TryGet(static s => s.LocalEndPoint, socket);
            _remoteEndPoint = TryGet(static s => s.RemoteEndPoint, socket);
        }

        RemoteAddress = CountedAddress(options, _remoteEndPoint);
    }

    private enum Phase
    {
        Handshake,
        WaitForData,
        Receive,
        Send,

        /// <summary>A stop claimed the connection while it waited for data and sent close_notify and FIN; what arrives is discarded.</summary>
        Stopped,

        /// <summary>Closing gracefully: close_notify and FIN sent behind the last echo; read and discard until the client closes.</summary>
        Drain,
    }

    /// <inheritdoc/>
    public override bool HandshakeFailed => (ConnectionCloseReason)Volatile.Read(ref _closeReason) == ConnectionCloseReason.TlsHandshakeFailed;

    /// <summary>Admits or rejects a freshly accepted socket of a TLS listener; runs on the accept loop, so it never blocks.</summary>
    public static void Accept(ServerContext context, EchoListener listener, Socket socket)
    {
        var options = context.Options;
        try
        {
            socket.NoDelay = options.NoDelay;
            if (options.KeepAlive)
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            }
        }
        catch (SocketException)
        {
            // The client already went away; nothing was admitted, so nothing to count.
            socket.Dispose();
            return;
        }

        TlsEchoConnection connection;
        try
        {
            connection = new TlsEchoConnection(context, context.NextConnectionId(), listener, socket);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The client already went away; nothing was admitted, so nothing to count.
            socket.Dispose();
            return;
        }

        if (!context.Connections.TryAdd(connection, out var rejection))
        {
            connection.Dispose();
            context.Metrics.ConnectionRejected(listener);
            EchoServerLog.ConnectionRejected(context.Logger, connection._remoteEndPoint, connection._localEndPoint, rejection);
            context.Server.RaiseConnectionRejected(connection._localEndPoint, connection._remoteEndPoint, rejection);
            return;
        }

        context.Metrics.ConnectionStarted(listener);
        ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.RunAsync(), connection, preferLocal: false);
    }

    /// <summary>Disposes the TLS stream and the socket; safe to call more than once.</summary>
    public void Dispose()
    {
        _ssl.Dispose();
        _socket.Dispose();
    }

    /// <summary>Decides a close reason if none was decided yet and closes the socket, so any pending operation ends at once. Call under the manager's lock.</summary>
    public override void Abort(ConnectionCloseReason reason)
    {
        TryDecide(reason, SocketError.Success);
        _socket.Dispose();
    }

    /// <summary>
    /// Stop, lifetime: a connection waiting for data has nothing in flight, so it gets close_notify and FIN at once
    /// and is drained until the client closes; one that is writing finishes that echo first (the pump sees the
    /// decision after its write); one still in its handshake is closed. Call under the manager's lock.
    /// </summary>
    public override void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        var phase = Volatile.Read(ref _phase);
        if (phase == (int)Phase.Handshake)
        {
            _socket.Dispose();
        }
        else if (phase is (int)Phase.WaitForData or (int)Phase.Receive &&
            Interlocked.CompareExchange(ref _phase, (int)Phase.Stopped, phase) == phase)
        {
            Volatile.Write(ref LastActivity, Environment.TickCount64);

            // The pump's read stays pending (SslStream allows one read and one write at a time); off the manager's lock.
            ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.SendCloseNotifyAsync(), this, preferLocal: false);
        }
    }

    /// <summary>The handshake timeout, the idle and send timeouts, the lifetime and the drain bound; called by the housekeeping timer under the manager's lock.</summary>
    public override void EnforceLimits(long now, in TimeLimits limits)
    {
        var phase = (Phase)Volatile.Read(ref _phase);
        var quietFor = now - Volatile.Read(ref LastActivity);
        if (phase == Phase.Handshake)
        {
            if (now - _startTick > limits.HandshakeMs)
            {
                _handshakeTimedOut = true;
                Abort(ConnectionCloseReason.TlsHandshakeFailed);
            }
        }
        else if (phase is Phase.Drain or Phase.Stopped)
        {
            if (quietFor > limits.DrainMs)
            {
                Abort((ConnectionCloseReason)Volatile.Read(ref _closeReason));
            }
        }
        else if (limits.IdleMs >= 0 && quietFor > limits.IdleMs)
        {
            Abort(ConnectionCloseReason.IdleTimeout);
        }
        else if (limits.SendMs >= 0 && phase == Phase.Send && quietFor > limits.SendMs)
        {
            Abort(ConnectionCloseReason.SendTimeout);
        }
        else if (limits.LifetimeMs >= 0 && now - _startTick > limits.LifetimeMs)
        {
            BeginGracefulClose(ConnectionCloseReason.LifetimeExceeded);
        }
    }

    private bool IsClosing => Volatile.Read(ref _closeReason) != Open;

    private async Task RunAsync()
    {
        try
        {
            EchoServerLog.ConnectionAccepted(_context.Logger, Id, _remoteEndPoint, _localEndPoint);
            _context.Server.RaiseConnectionAccepted(Id, _localEndPoint, _remoteEndPoint);
            if (await HandshakeAsync().ConfigureAwait(false))
            {
                await EchoAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            var error = SocketErrorOf(ex);
            var reason = error is { } e ? ReasonFor(e) : ex is IOException ? ConnectionCloseReason.ConnectionReset : ConnectionCloseReason.Error;
            if (TryDecide(reason, error ?? SocketError.Success) && reason == ConnectionCloseReason.Error && error is { } unexpected)
            {
                EchoServerLog.ConnectionFailed(_context.Logger, Id, unexpected);
            }
        }
        catch (Exception ex)
        {
            EchoServerLog.ConnectionException(_context.Logger, Id, ex);
            TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        }
        finally
        {
            try
            {
                Close();
            }
            catch (Exception ex)
            {
                // Nothing may escape a fire-and-forget pump; the connection is gone either way.
                EchoServerLog.ConnectionException(_context.Logger, Id, ex);
            }
        }
    }

    /// <summary>Authenticates as the server; returns whether to echo. A failure is this connection's close reason, never an exception.</summary>
    private async Task<bool> HandshakeAsync()
    {
        var metrics = _context.Metrics;
        var started = Stopwatch.GetTimestamp();
        metrics.TlsHandshakeStarted(Listener);
        try
        {
            await _ssl.AuthenticateAsServerAsync(Listener.TlsAuthentication!, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var reason = _handshakeTimedOut ? "timeout" : ex is AuthenticationException ? "authentication_failed" : ex is IOException ? "connection_reset" : "error";
            TryDecide(ConnectionCloseReason.TlsHandshakeFailed, SocketErrorOf(ex) ?? SocketError.Success);
            metrics.TlsHandshakeEnded(Listener, started, protocol: null, errorType: reason);
            if (HandshakeFailed)
            {
                if (ex is AuthenticationException or IOException or SocketException or ObjectDisposedException)
                {
                    EchoServerLog.TlsHandshakeFailed(_context.Logger, Id, _handshakeTimedOut ? "it timed out" : ex.Message, ex);
                }
                else
                {
                    // Not the client's doing: most likely the server's certificate or authentication settings.
                    EchoServerLog.TlsHandshakeError(_context.Logger, Id, ex);
                }
            }

            return false;
        }

        metrics.TlsHandshakeEnded(Listener, started, _ssl.SslProtocol, errorType: null);
        if (_context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.TlsHandshakeCompleted(_context.Logger, Id, _ssl.SslProtocol, _ssl.NegotiatedCipherSuite);
        }

        Volatile.Write(ref LastActivity, Environment.TickCount64);
        return true;
    }

    private async Task EchoAsync()
    {
        var waitForData = _context.Options.WaitForDataBeforeAllocatingBuffer;
        var maxBytes = _context.Options.MaxBytesPerConnection;
        var holdBuffer = false;
        while (true)
        {
            int read;
            if (waitForData && !holdBuffer)
            {
                // Wait with a zero-byte read, so an idle connection holds no buffer of ours.
                if (!Enter(Phase.WaitForData))
                {
                    break;
                }

                await _ssl.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                if (Interlocked.CompareExchange(ref _phase, (int)Phase.Receive, (int)Phase.WaitForData) != (int)Phase.WaitForData)
                {
                    await DrainAsync().ConfigureAwait(false);
                    return;
                }
            }
            else if (!Enter(Phase.Receive))
            {
                break;
            }

            _buffer ??= _context.Buffers.Rent();
            read = await _ssl.ReadAsync(_buffer).ConfigureAwait(false);
            if (Interlocked.CompareExchange(ref _phase, (int)Phase.Send, (int)Phase.Receive) != (int)Phase.Receive)
            {
                // A stop claimed this connection while it waited and has sent close_notify: discard, drain.
                if (read > 0)
                {
                    await DrainAsync().ConfigureAwait(false);
                }

                return;
            }

            if (read == 0)
            {
                // close_notify or end of stream: every byte received has already been echoed.
                TryDecide(ConnectionCloseReason.ClientClosed, SocketError.Success);
                await SendCloseNotifyAsync().ConfigureAwait(false);
                return;
            }

            BytesReceived += read;
            Volatile.Write(ref LastActivity, Environment.TickCount64);
            var count = read;
            if (maxBytes is { } limit && BytesReceived > limit)
            {
                // Echo up to the limit, then close gracefully; the rest is not echoed.
                count -= (int)Math.Min(read, BytesReceived - limit);
                TryDecide(ConnectionCloseReason.ByteLimitExceeded, SocketError.Success);
            }

            for (var offset = 0; offset < count;)
            {
                var chunk = Math.Min(count - offset, MaxWriteChunk);
                await _ssl.WriteAsync(_buffer.AsMemory(offset, chunk)).ConfigureAwait(false);
                offset += chunk;
                BytesSent += chunk;
                Volatile.Write(ref LastActivity, Environment.TickCount64);
            }

            if (IsClosing)
            {
                break;
            }

            // A read that filled the buffer means more is almost surely waiting: keep the buffer and read again.
            holdBuffer = read == _buffer.Length;
            if (waitForData && !holdBuffer)
            {
                ReleaseBuffer();
            }
        }

        // Closing gracefully after an echo (stop, lifetime, byte limit): close_notify and FIN behind the echoed
        // data, then read until the client closes, because closing with unread data would reset the connection
        // and destroy echo data the client has not read yet. The housekeeping timer bounds the wait.
        Volatile.Write(ref LastActivity, Environment.TickCount64);
        Volatile.Write(ref _phase, (int)Phase.Drain);
        if ((ConnectionCloseReason)Volatile.Read(ref _closeReason) is ConnectionCloseReason.ServerStopping
            or ConnectionCloseReason.LifetimeExceeded or ConnectionCloseReason.ByteLimitExceeded)
        {
            await SendCloseNotifyAsync().ConfigureAwait(false);
            await DrainAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Sets the phase before a read, then checks for a close decided meanwhile (a stop that looked before the write did not see this phase).</summary>
    private bool Enter(Phase phase)
    {
        Interlocked.Exchange(ref _phase, (int)phase);
        return !IsClosing;
    }

    /// <summary>Reads and discards until the client closes (or the housekeeping timer aborts the wait).</summary>
    private async Task DrainAsync()
    {
        Volatile.Write(ref _phase, (int)Phase.Drain);
        _buffer ??= _context.Buffers.Rent();
        while (await _ssl.ReadAsync(_buffer).ConfigureAwait(false) > 0)
        {
        }
    }

    /// <summary>Sends close_notify, then FIN. Either may fail when the client is already gone.</summary>
    private async Task SendCloseNotifyAsync()
    {
        try
        {
            await _ssl.ShutdownAsync().ConfigureAwait(false);
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The client or an abort got there first.
        }
    }

    private bool TryDecide(ConnectionCloseReason reason, SocketError error)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, Open) != Open)
        {
            return false;
        }

        _closeError = error;
        return true;
    }

    /// <summary>Ends the connection: called once, by the pump, after its last operation.</summary>
    private void Close()
    {
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        var reason = (ConnectionCloseReason)Volatile.Read(ref _closeReason);
        Dispose();
        ReleaseBuffer();

        var context = _context;
        context.Connections.Remove(this);
        context.Metrics.ConnectionEnded(Listener, reason, _startTimestamp);
        if (context.Logger.IsEnabled(LogLevel.Debug))
        {
            EchoServerLog.ConnectionClosed(context.Logger, Id, reason, _closeError, BytesReceived, BytesSent);
        }

        if (context.Server.HasConnectionClosedSubscribers)
        {
            context.Server.RaiseConnectionClosed(new ConnectionClosedEventArgs(
                Id, _localEndPoint, _remoteEndPoint, reason, _closeError, BytesReceived, BytesSent, Stopwatch.GetElapsedTime(_startTimestamp)));
        }

        context.Connections.Released();
    }

    private void ReleaseBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _context.Buffers.Return(buffer);
        }
    }

    private static SocketError? SocketErrorOf(Exception exception) => exception switch
    {
        SocketException socket => socket.SocketErrorCode,
        { InnerException: SocketException inner } => inner.SocketErrorCode,
        { InnerException: { InnerException: SocketException inner } } => inner.SocketErrorCode,
        _ => null,
    };

    private static ConnectionCloseReason ReasonFor(SocketError error) => error switch
    {
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.OperationAborted
            or SocketError.NetworkReset or SocketError.NotConnected or SocketError.TimedOut
            or SocketError.HostUnreachable or SocketError.NetworkUnreachable => ConnectionCloseReason.ConnectionReset,
        _ => ConnectionCloseReason.Error,
    };

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
