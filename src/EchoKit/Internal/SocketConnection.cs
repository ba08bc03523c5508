using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A TCP or Unix socket connection: the socket, one reusable <see cref="SocketAsyncEventArgs"/> and, while data is in
/// flight, one pooled buffer. Pooled and reused for later connections. Its life is <see cref="StreamConnection"/>'s;
/// this type adds the pump (<c>SocketConnection.Pump.cs</c>) and the pooling.
/// </summary>
internal sealed partial class SocketConnection : StreamConnection, IThreadPoolWorkItem, IDisposable
{
    private readonly IoEventArgs _args;

    public SocketConnection(ServerContext context)
        : base(context)
    {
        _args = new IoEventArgs(this);
    }

    /// <summary>
    /// Binds this pooled object to a new socket. The first phase is Receive, not WaitForData: a stop before the pump
    /// starts then leaves the first wait to see the decided close (see <see cref="Run"/>), and with
    /// <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/> off it wakes the first receive.
    /// </summary>
    public override void Initialize(long id, EchoListener listener, Socket socket)
    {
        Begin(id, listener, socket, ConnectionPhase.Receive);
        _resume = ConnectionPhase.Start;

        // Non-blocking, so TryReceiveNow's receive returns WouldBlock rather than waiting; asynchronous operations
        // are non-blocking underneath either way.
        socket.Blocking = false;
        _receiveBeforeWaiting = Context.Options.WaitForDataBeforeAllocatingBuffer;
        _headerReceived = 0;
    }

    public void Dispose() => _args.Dispose();

    protected override void Release()
    {
        if (!Context.ConnectionPool.Return(this))
        {
            Dispose();
        }
    }

    private sealed class IoEventArgs(SocketConnection connection) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => connection.OnIoCompleted();
    }
}
