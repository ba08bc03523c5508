using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A TCP or Unix socket as a <see cref="StreamTransport"/>: one reusable <see cref="SocketAsyncEventArgs"/> for every
/// operation, so nothing is allocated per message and no task exists per operation. Pooled with its connection and
/// bound to each new socket by <see cref="Bind"/>.
/// </summary>
internal sealed class SocketTransport : StreamTransport, IDisposable
{
    private readonly IoEventArgs _args;
    private Socket? _socket;
    private SocketError _syncError;
    private int _syncTransferred;
    private bool _syncResult;
    private bool _connecting;
    private bool _noDelay;

    public SocketTransport(IStreamTransportOwner owner) => _args = new IoEventArgs(owner);

    /// <summary>The socket, for the TLS adapter built over it; null once released.</summary>
    public Socket? Socket => _socket;

    /// <summary>
    /// Binds to an accepted socket. <paramref name="nonBlocking"/> makes <see cref="TryReceiveNow"/> return WouldBlock
    /// rather than wait (asynchronous operations are non-blocking underneath either way); TLS leaves the socket
    /// blocking, as its <see cref="NetworkStream"/> requires.
    /// </summary>
    public void Bind(Socket socket, bool nonBlocking)
    {
        _socket = socket;
        if (nonBlocking)
        {
            socket.Blocking = false;
        }
    }

    /// <summary>Forgets the socket (closed by then) before the object goes back to its pool.</summary>
    public void Unbind()
    {
        _socket = null;
        _args.RemoteEndPoint = null;
    }

    /// <summary>
    /// Opens a new connection to <paramref name="endPoint"/> (a fault proxy's upstream) and binds to it: an IP or Unix
    /// socket endpoint, or a <see cref="DnsEndPoint"/>, resolved now and tried address by address. Completes like any
    /// operation, and then the caller calls <see cref="CompleteConnect"/>; <see cref="Abort"/> meanwhile cancels it.
    /// </summary>
    public bool Connect(EndPoint endPoint, bool noDelay)
    {
        _syncResult = false;
        _noDelay = noDelay;
        _args.SetBuffer(null, 0, 0);
        _args.RemoteEndPoint = endPoint;
        Volatile.Write(ref _connecting, true);
        if (endPoint is DnsEndPoint)
        {
            // The socket exists only once an address answered: the args carry it back.
            return Socket.ConnectAsync(SocketType.Stream, ProtocolType.Tcp, _args);
        }

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        _socket = socket;
        return socket.ConnectAsync(_args);
    }

    /// <summary>After <see cref="Connect"/> completed: binds the connected socket (non-blocking, for <see cref="TryReceiveNow"/>) and returns the result.</summary>
    public SocketError CompleteConnect()
    {
        Volatile.Write(ref _connecting, false);
        var error = _args.SocketError;
        if (error == SocketError.Success && _args.ConnectSocket is { } connected)
        {
            _socket = connected;
            connected.Blocking = false;
            if (_noDelay && connected.AddressFamily != AddressFamily.Unix)
            {
                connected.NoDelay = true;
            }
        }

        return error;
    }

    public override bool Receive(byte[]? buffer, int offset, int count)
    {
        _syncResult = false;
        _args.SetBuffer(buffer, offset, count);
        return _socket!.ReceiveAsync(_args);
    }

    public override bool TryReceiveNow(byte[] buffer, out SocketError error, out int received)
    {
        received = _socket!.Receive(buffer, SocketFlags.None, out error);
        return error != SocketError.WouldBlock;
    }

    public override bool Send(byte[] buffer, int offset, int count)
    {
        _syncResult = false;
        _args.SetBuffer(buffer, offset, count);
        return _socket!.SendAsync(_args);
    }

    public override bool ShutdownSend(bool closingNext)
    {
        _syncResult = true;
        _syncTransferred = 0;
        _syncError = SocketError.Success;
        if (closingNext)
        {
            return false;
        }

        try
        {
            _socket!.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException ex)
        {
            _syncError = ex.SocketErrorCode;
        }
        catch (ObjectDisposedException)
        {
            _syncError = SocketError.OperationAborted;
        }

        return false;
    }

    public override void ShutdownSendWhileReceiving() => ShutdownQuietly(SocketShutdown.Send);

    public override void WakeReceive() => ShutdownQuietly(SocketShutdown.Receive);

    public override SocketError GetResult(out int transferred)
    {
        if (_syncResult)
        {
            transferred = _syncTransferred;
            return _syncError;
        }

        transferred = _args.BytesTransferred;
        return _args.SocketError;
    }

    public override void SetAbortiveClose()
    {
        try
        {
            if (_socket is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed; the peer sees whatever close came first.
        }
    }

    public override void Abort()
    {
        if (Volatile.Read(ref _connecting))
        {
            Socket.CancelConnectAsync(_args);
        }

        _socket?.Dispose();
    }

    public void Dispose() => _args.Dispose();

    private void ShutdownQuietly(SocketShutdown how)
    {
        try
        {
            _socket?.Shutdown(how);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closing on its own; the pump finishes it.
        }
    }

    private sealed class IoEventArgs(IStreamTransportOwner owner) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => owner.OnTransportCompleted();
    }
}
