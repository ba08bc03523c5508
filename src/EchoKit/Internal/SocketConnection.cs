using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A TCP or Unix socket connection: the socket, one reusable <see cref="SocketAsyncEventArgs"/> and, while data is in
/// flight, one pooled buffer. Pooled and reused for later connections. Its life is <see cref="StreamConnection"/>'s;
/// this type adds the pump (<c>SocketConnection.Pump.cs</c>).
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
    }

    /// <summary>
    /// Starts the pump. When nobody listens for the accepted event or log, the first receive is issued right here on
    /// the accept loop (usually it just goes pending): a thread-pool hop per connection costs more than it buys. The
    /// event, when wanted, runs on the thread pool as documented.
    /// </summary>
    public override void Start()
    {
        if (Context.Server.WantsAcceptedReport(Context.Logger))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
        else
        {
            RunFirstStep();
        }
    }

    /// <summary>
    /// Server stop. A connection waiting for data has nothing in flight: it gets FIN at once and is drained until the
    /// client closes. One that is sending finishes that echo first (see <see cref="Complete"/>). With
    /// <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/> off, a pending receive is woken by shutting
    /// down the receive side instead.
    /// </summary>
    public override void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        try
        {
            if (Phase == ConnectionPhase.WaitForData && TryMovePhase(ConnectionPhase.WaitForData, ConnectionPhase.Stopped))
            {
                Socket?.Shutdown(SocketShutdown.Send);
            }
            else if (!Context.Options.WaitForDataBeforeAllocatingBuffer && Phase == ConnectionPhase.Receive)
            {
                Socket?.Shutdown(SocketShutdown.Receive);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closing on its own; the pump finishes it.
        }
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
