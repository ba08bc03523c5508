using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace EchoKit.Internal;

/// <summary>
/// TLS as an adapter under the relay pump: an <see cref="SslStream"/> over the connection's socket (the only place a
/// <see cref="NetworkStream"/> exists) behind the same <see cref="StreamTransport"/> seam as a raw socket. The handshake
/// is its <see cref="Start"/>, close_notify its <see cref="ShutdownSend"/>, and a write is at most one TLS record, so
/// a slow reader's progress is seen record by record. Each pending operation's awaiter calls the owner back through a
/// delegate made once, so an operation allocates no more than <see cref="SslStream"/> itself does. Made per connection:
/// an <see cref="SslStream"/> cannot be reused.
/// </summary>
[SuppressMessage("Reliability", "CA2012", Justification = "Each ValueTask's awaiter is stored and its result read exactly once, in GetResult: that is how the pump awaits without a state machine.")]
internal sealed class TlsTransport : StreamTransport, IDisposable
{
    /// <summary>The most plaintext per write: one TLS record.</summary>
    private const int MaxWriteChunk = 16 * 1024;

    private readonly Socket _socket;
    private readonly SslServerAuthenticationOptions _authentication;
    private readonly Action _onCompleted;
    private SslStream? _ssl;
    private Operation _operation;
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _read;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _write;
    private ConfiguredTaskAwaitable.ConfiguredTaskAwaiter _task;
    private Exception? _thrown;
    private int _writeCount;
    private ReadOnlyMemory<byte> _prefix;

    public TlsTransport(IStreamTransportOwner owner, Socket socket, SslServerAuthenticationOptions authentication)
    {
        _socket = socket;
        _authentication = authentication;
        _onCompleted = owner.OnTransportCompleted;
    }

    private enum Operation
    {
        None,
        Handshake,
        Read,
        Write,
        Shutdown,
    }

    /// <summary>The authenticated stream, for the handshake's report (protocol, cipher suite).</summary>
    public SslStream Stream => _ssl!;

    /// <summary>Why the handshake failed, once <see cref="GetResult"/> reported it did.</summary>
    public Exception? HandshakeFailure { get; private set; }

    /// <summary>Runs the handshake; <paramref name="prefix"/> is the client's first TLS bytes if the PROXY phase read them.</summary>
    public override bool Start(ReadOnlyMemory<byte> prefix)
    {
        _prefix = prefix;
        return Await(Operation.Handshake, static t => t._task = t.Authenticate().ConfigureAwait(false).GetAwaiter());
    }

    /// <summary>A zero-byte read (no buffer) waits for data without taking any: <see cref="SslStream"/> supports it.</summary>
    public override bool Receive(byte[]? buffer, int offset, int count) => Await(Operation.Read, null, buffer, offset, count);

    public override bool Send(byte[] buffer, int offset, int count)
    {
        _writeCount = Math.Min(count, MaxWriteChunk);
        return Await(Operation.Write, null, buffer, offset, _writeCount);
    }

    /// <summary>close_notify, then FIN on the socket; a client or an abort that got there first is no error: the drain or close that follows sees it.</summary>
    public override bool ShutdownSend(bool closingNext) =>
        Await(Operation.Shutdown, static t => t._task = t._ssl!.ShutdownAsync().ConfigureAwait(false).GetAwaiter());

    /// <summary>On the thread pool: <see cref="SslStream"/> allows this write beside the pending read, but not under the set's lock.</summary>
    public override void ShutdownSendWhileReceiving() =>
        ThreadPool.UnsafeQueueUserWorkItem(static t => _ = t.CloseNotifyQuietlyAsync(), this, preferLocal: false);

    public override void WakeReceive()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Receive);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closing on its own.
        }
    }

    public override SocketError GetResult(out int transferred)
    {
        transferred = 0;
        var operation = _operation;
        _operation = Operation.None;
        try
        {
            if (_thrown is { } thrown)
            {
                _thrown = null;
                throw thrown;
            }

            switch (operation)
            {
                case Operation.Read:
                    transferred = _read.GetResult();
                    break;
                case Operation.Write:
                    _write.GetResult();
                    transferred = _writeCount;
                    break;
                case Operation.Handshake:
                    _task.GetResult();
                    break;
                case Operation.Shutdown:
                    _task.GetResult();
                    _socket.Shutdown(SocketShutdown.Send);
                    break;
            }

            return SocketError.Success;
        }
        catch (Exception ex) when (operation == Operation.Handshake)
        {
            HandshakeFailure = ex;
            return SocketErrorOf(ex) ?? SocketError.SocketError;
        }
        catch (Exception ex) when (operation == Operation.Shutdown && ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The client or an abort got there first.
            return SocketError.Success;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // A peer that went away; an unexpected exception goes on to the pump, which logs it and closes.
            return SocketErrorOf(ex) ?? (ex is IOException ? SocketError.ConnectionReset : SocketError.OperationAborted);
        }
    }

    public override void SetAbortiveClose()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    /// <summary>Closes the socket under the TLS stream, failing its pending operation; any thread.</summary>
    public override void Abort() => _socket.Dispose();

    /// <summary>The pump's last call: the TLS stream and the socket go.</summary>
    public override void Close()
    {
        _ssl?.Dispose();
        _socket.Dispose();
    }

    /// <inheritdoc cref="Close"/>
    public void Dispose() => Close();

    /// <summary>The stream is made here, so a socket the client already closed fails the handshake like any other cause.</summary>
    private Task Authenticate()
    {
        Stream inner = new NetworkStream(_socket, ownsSocket: false);
        if (!_prefix.IsEmpty)
        {
            inner = new PrefixedStream(_prefix.ToArray(), inner);
            _prefix = default;
        }

        _ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        return _ssl.AuthenticateAsServerAsync(_authentication, CancellationToken.None);
    }

    private static SocketError? SocketErrorOf(Exception exception) => exception switch
    {
        SocketException socket => socket.SocketErrorCode,
        { InnerException: SocketException inner } => inner.SocketErrorCode,
        { InnerException: { InnerException: SocketException inner } } => inner.SocketErrorCode,
        _ => null,
    };

    /// <summary>
    /// Starts <paramref name="operation"/>: <paramref name="begin"/> (or, for reads and writes with a buffer, the
    /// buffer's read or write) stores its awaiter. Returns whether it is pending; when it is, the owner is called back.
    /// </summary>
    private bool Await(Operation operation, Action<TlsTransport>? begin, byte[]? buffer = null, int offset = 0, int count = 0)
    {
        _operation = operation;
        bool completed;
        try
        {
            if (begin is not null)
            {
                begin(this);
            }
            else if (operation == Operation.Read)
            {
                _read = _ssl!.ReadAsync(buffer.AsMemory(offset, count)).ConfigureAwait(false).GetAwaiter();
            }
            else
            {
                _write = _ssl!.WriteAsync(buffer.AsMemory(offset, count)).ConfigureAwait(false).GetAwaiter();
            }

            completed = operation switch
            {
                Operation.Read => _read.IsCompleted,
                Operation.Write => _write.IsCompleted,
                _ => _task.IsCompleted,
            };
        }
        catch (Exception ex)
        {
            // Thrown before any awaiter existed (say, the stream is disposed): the result is this exception.
            _thrown = ex;
            return false;
        }

        if (completed)
        {
            return false;
        }

        switch (operation)
        {
            case Operation.Read:
                _read.UnsafeOnCompleted(_onCompleted);
                break;
            case Operation.Write:
                _write.UnsafeOnCompleted(_onCompleted);
                break;
            default:
                _task.UnsafeOnCompleted(_onCompleted);
                break;
        }

        return true;
    }

    private async Task CloseNotifyQuietlyAsync()
    {
        try
        {
            await _ssl!.ShutdownAsync().ConfigureAwait(false);
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The client or an abort got there first.
        }
    }
}
