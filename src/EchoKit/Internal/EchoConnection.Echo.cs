using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>The echo pump: wait for data, receive into a pooled buffer, send the same bytes back, repeat.</summary>
internal sealed partial class EchoConnection
{
    /// <summary>
    /// Synchronous completions handled in one go before the pump yields its thread: a client that always has
    /// data ready would otherwise hold a thread-pool thread for as long as it sends, starving other connections.
    /// </summary>
    private const int MaxSynchronousCompletions = 32;

    private enum Step
    {
        /// <summary>Admitted, not yet started: raise the accepted event first.</summary>
        Start,
        WaitForData,
        Receive,
        Send,

        /// <summary>Stopping: the echo is delivered and FIN sent; read and discard until the client closes.</summary>
        Drain,
        Close,

        /// <summary>A stop claimed a connection that had received nothing, and closed its socket.</summary>
        Stopped,
    }

    // The operation in progress (a Step), switched with Interlocked where a stop can race with the pump.
    private int _state;
    private Step _resume;
    private byte[]? _buffer;
    private int _sendOffset;
    private int _sendCount;
    private int _lastReceive;

    /// <summary>
    /// Server stop. A connection waiting for data has nothing in flight: it gets FIN at once and is drained
    /// until the client closes. One that is sending finishes that echo first (see <see cref="Complete"/>).
    /// With <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/> off, a pending receive is woken
    /// by shutting down the receive side instead.
    /// </summary>
    public override void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        try
        {
            if (Volatile.Read(ref _state) == (int)Step.WaitForData &&
                Interlocked.CompareExchange(ref _state, (int)Step.Stopped, (int)Step.WaitForData) == (int)Step.WaitForData)
            {
                _socket?.Shutdown(SocketShutdown.Send);
            }
            else if (!_context.Options.WaitForDataBeforeAllocatingBuffer && Volatile.Read(ref _state) == (int)Step.Receive)
            {
                _socket?.Shutdown(SocketShutdown.Receive);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closing on its own; the pump finishes it.
        }
    }

    private void OnIoCompleted()
    {
        // An exception escaping an I/O completion would take the process down; contain it to this connection.
        try
        {
            Run(Complete());
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// Issues operations until one is pending or the connection ends. A synchronous completion is handled
    /// in this loop, never by recursion or a hop to another thread.
    /// </summary>
    private void Run(Step step)
    {
        var socket = _socket!;
        var synchronousCompletions = 0;
        while (true)
        {
            bool pending;
            try
            {
                switch (step)
                {
                    case Step.WaitForData:
                        _args.SetBuffer(null, 0, 0);
                        Interlocked.Exchange(ref _state, (int)Step.WaitForData);
                        if (IsClosing)
                        {
                            // A stop (or abort) that looked before the write above did not see this wait.
                            step = BeginDrain();
                            continue;
                        }

                        pending = socket.ReceiveAsync(_args);
                        break;
                    case Step.Receive:
                    case Step.Drain:
                        _buffer ??= _context.Buffers.Rent();
                        _args.SetBuffer(_buffer, 0, _buffer.Length);
                        _state = (int)step;
                        pending = socket.ReceiveAsync(_args);
                        break;
                    case Step.Send:
                        _args.SetBuffer(_buffer, _sendOffset, _sendCount);
                        _state = (int)Step.Send;
                        pending = socket.SendAsync(_args);
                        break;
                    default:
                        Close();
                        return;
                }
            }
            catch (ObjectDisposedException)
            {
                // Aborted (idle timeout, stop) between two operations; the reason is already decided.
                Close();
                return;
            }

            if (pending)
            {
                return;
            }

            step = Complete();
            if (++synchronousCompletions == MaxSynchronousCompletions)
            {
                _resume = step;
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }
        }
    }

    /// <summary>Runs on the thread pool: the first step of an admitted connection, or the pump resuming after a yield.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        try
        {
            var step = _resume;
            if (step == Step.Start)
            {
                EchoServerLog.ConnectionAccepted(_context.Logger, Id, _remoteEndPoint, _localEndPoint);
                _context.Server.RaiseConnectionAccepted(Id, _localEndPoint, _remoteEndPoint);
                step = _context.Options.WaitForDataBeforeAllocatingBuffer ? Step.WaitForData : Step.Receive;
            }

            Run(step);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>Consumes the result of the operation that just completed and picks the next step.</summary>
    private Step Complete()
    {
        var error = _args.SocketError;
        var completed = (Step)Volatile.Read(ref _state);
        if (completed == Step.WaitForData &&
            Interlocked.CompareExchange(ref _state, (int)Step.Receive, (int)Step.WaitForData) != (int)Step.WaitForData)
        {
            completed = Step.Stopped;
        }

        if (completed == Step.Stopped)
        {
            // A stop claimed this idle connection and sent FIN; whatever the client still sends is discarded.
            return error == SocketError.Success ? Step.Drain : Step.Close;
        }

        if (error != SocketError.Success)
        {
            if (completed == Step.Send)
            {
                // A send cut short still handed part of the echo to the kernel, and the client may read it.
                BytesSent += _args.BytesTransferred;
            }

            var reason = ReasonFor(error);
            if (TryDecide(reason, error) && reason == ConnectionCloseReason.Error)
            {
                EchoServerLog.ConnectionFailed(_context.Logger, Id, error);
            }

            return Step.Close;
        }

        var transferred = _args.BytesTransferred;
        switch (completed)
        {
            case Step.WaitForData:
                return Step.Receive;

            case Step.Receive:
                if (transferred == 0)
                {
                    // End of stream: the client shut down its sending side (or a stop woke the receive);
                    // every byte received has already been echoed.
                    TryDecide(ConnectionCloseReason.ClientClosed, SocketError.Success);
                    return Step.Close;
                }

                BytesReceived += transferred;
                Volatile.Write(ref LastActivity, Environment.TickCount64);
                _lastReceive = transferred;
                _sendOffset = 0;
                _sendCount = transferred;
                if (_context.Options.MaxBytesPerConnection is { } maxBytes && BytesReceived > maxBytes)
                {
                    // Echo up to the limit, then close gracefully; the rest is not echoed.
                    _sendCount -= (int)Math.Min(transferred, BytesReceived - maxBytes);
                    TryDecide(ConnectionCloseReason.ByteLimitExceeded, SocketError.Success);
                    if (_sendCount == 0)
                    {
                        return BeginDrain();
                    }
                }

                return Step.Send;

            case Step.Drain:
                // Discarded: the server is stopping and echoes nothing more; end when the client closes.
                return transferred == 0 ? Step.Close : Step.Drain;

            default:
                BytesSent += transferred;
                Volatile.Write(ref LastActivity, Environment.TickCount64);
                _sendOffset += transferred;
                _sendCount -= transferred;
                if (_sendCount > 0)
                {
                    return Step.Send;
                }

                if (IsClosing)
                {
                    return BeginDrain();
                }

                // A receive that filled the whole buffer means more data is almost surely waiting: read it
                // into the buffer still held instead of paying for a zero-byte wait first.
                if (_context.Options.WaitForDataBeforeAllocatingBuffer && _lastReceive < _buffer!.Length)
                {
                    ReleaseBuffer();
                    return Step.WaitForData;
                }

                return Step.Receive;
        }
    }

    /// <summary>
    /// Closing gracefully after an echo (stop, lifetime, byte limit): send FIN behind the echoed data, then read until the client closes, because
    /// closing with unread data would reset the connection and destroy echo data the client has not read yet.
    /// <see cref="EchoServerOptions.ShutdownTimeout"/> bounds the wait.
    /// </summary>
    private Step BeginDrain()
    {
        if ((ConnectionCloseReason)_closeReason is not (ConnectionCloseReason.ServerStopping
            or ConnectionCloseReason.LifetimeExceeded or ConnectionCloseReason.ByteLimitExceeded))
        {
            return Step.Close;
        }

        Volatile.Write(ref LastActivity, Environment.TickCount64);

        try
        {
            _socket!.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return Step.Close;
        }

        return Step.Drain;
    }

    private void ReleaseBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _context.Buffers.Return(buffer);
        }
    }

    private void Fail(Exception exception)
    {
        EchoServerLog.ConnectionException(_context.Logger, Id, exception);
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        if (_closeStarted)
        {
            // The failure came from inside Close: running it again could return this object twice.
            return;
        }

        try
        {
            _socket?.Dispose();
            Close();
        }
        catch (Exception ex)
        {
            EchoServerLog.ConnectionException(_context.Logger, Id, ex);
        }
    }

    private static ConnectionCloseReason ReasonFor(SocketError error) => error switch
    {
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown
            or SocketError.NetworkReset or SocketError.NotConnected => ConnectionCloseReason.ConnectionReset,
        SocketError.TimedOut or SocketError.HostUnreachable or SocketError.NetworkUnreachable => ConnectionCloseReason.ConnectionReset,
        _ => ConnectionCloseReason.Error,
    };
}
