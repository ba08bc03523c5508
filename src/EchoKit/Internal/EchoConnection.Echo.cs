using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>The echo pump: wait for data, receive into a pooled buffer, send the same bytes back, repeat.</summary>
internal sealed partial class EchoConnection
{
    private enum Step
    {
        WaitForData,
        Receive,
        Send,
        Close,
    }

    private Step _pending;
    private byte[]? _buffer;
    private int _sendOffset;
    private int _sendCount;

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
        while (true)
        {
            bool pending;
            try
            {
                switch (step)
                {
                    case Step.WaitForData:
                        _args.SetBuffer(null, 0, 0);
                        _pending = Step.WaitForData;
                        pending = socket.ReceiveAsync(_args);
                        break;
                    case Step.Receive:
                        _buffer ??= _context.Buffers.Rent();
                        _args.SetBuffer(_buffer, 0, _buffer.Length);
                        _pending = Step.Receive;
                        pending = socket.ReceiveAsync(_args);
                        break;
                    case Step.Send:
                        _args.SetBuffer(_buffer, _sendOffset, _sendCount);
                        _pending = Step.Send;
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
        }
    }

    /// <summary>Consumes the result of the operation that just completed and picks the next step.</summary>
    private Step Complete()
    {
        var error = _args.SocketError;
        if (error != SocketError.Success)
        {
            var reason = ReasonFor(error);
            if (TryDecide(reason, error) && reason == ConnectionCloseReason.Error)
            {
                EchoServerLog.ConnectionFailed(_context.Logger, Id, error);
            }

            return Step.Close;
        }

        var transferred = _args.BytesTransferred;
        switch (_pending)
        {
            case Step.WaitForData:
                return Step.Receive;

            case Step.Receive:
                if (transferred == 0)
                {
                    // End of stream: the client shut down its sending side (or stop shut down ours);
                    // every byte it sent has already been echoed.
                    TryDecide(ConnectionCloseReason.ClientClosed, SocketError.Success);
                    return Step.Close;
                }

                BytesReceived += transferred;
                Volatile.Write(ref LastActivity, Environment.TickCount64);
                _sendOffset = 0;
                _sendCount = transferred;
                return Step.Send;

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
                    // Stopping: the in-flight echo is delivered, nothing more is read.
                    return Step.Close;
                }

                if (_context.Options.WaitForDataBeforeAllocatingBuffer)
                {
                    ReleaseBuffer();
                    return Step.WaitForData;
                }

                return Step.Receive;
        }
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
