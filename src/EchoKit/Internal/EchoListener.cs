using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>One bound listening socket and its accept loop.</summary>
internal sealed partial class EchoListener : IDisposable
{
    private static readonly TimeSpan MaxAcceptRetryDelay = TimeSpan.FromSeconds(1);

    private readonly ServerContext _context;
    private readonly Socket _socket;
    private readonly AcceptEventArgs _acceptArgs;
    private readonly Timer _retryTimer;
    private TimeSpan _retryDelay;
    private volatile bool _closed;

    private EchoListener(ServerContext context, Socket socket, EndPoint boundEndPoint)
    {
        _context = context;
        _socket = socket;
        EndPoint = boundEndPoint;
        IsTcp = socket.ProtocolType == ProtocolType.Tcp;
        Tags = CreateTags(boundEndPoint);
        _acceptArgs = new AcceptEventArgs(this);
        _retryTimer = new Timer(static s => ((EchoListener)s!).AcceptLoop(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The endpoint actually bound (the real port when 0 was asked for).</summary>
    public EndPoint EndPoint { get; }

    public bool IsTcp { get; }

    /// <summary>Metric tags of this listener: <c>server.address</c>, <c>server.port</c>, <c>network.transport</c>, <c>network.type</c>.</summary>
    public TagList Tags { get; }

    /// <summary>Per-listener totals; written only under the <see cref="ConnectionManager"/> lock.</summary>
    public ListenerCounters Counters { get; } = new();

    /// <summary>Binds and listens, or throws an <see cref="IOException"/> naming the endpoint.</summary>
    public static EchoListener Bind(ServerContext context, EndPoint endPoint)
    {
        var options = context.Options;
        Socket socket;
        if (endPoint is UnixDomainSocketEndPoint)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }
        else
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endPoint is IPEndPoint ip && ip.Address.Equals(IPAddress.IPv6Any) && options.DualMode)
            {
                socket.DualMode = true;
            }
        }

        try
        {
            socket.Bind(endPoint);
            socket.Listen(options.Backlog);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var what = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the address is already in use",
                SocketError.AddressNotAvailable => "the address is not available on this machine",
                SocketError.AccessDenied => "access was denied (ports below 1024 need privileges)",
                _ => ex.Message,
            };
            throw new IOException($"EchoServer failed to bind to {endPoint}: {what}.", ex);
        }

        return new EchoListener(context, socket, socket.LocalEndPoint ?? endPoint);
    }

    public void Start() => ThreadPool.UnsafeQueueUserWorkItem(static s => s.AcceptLoop(), this, preferLocal: false);

    public void Dispose()
    {
        _closed = true;
        _retryTimer.Dispose();
        _socket.Dispose();
        if (endPointIsSocketFile(EndPoint, out var path))
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort: the file may already be gone or be reused by another process.
            }
        }

        static bool endPointIsSocketFile(EndPoint endPoint, out string path)
        {
            path = endPoint is UnixDomainSocketEndPoint uds ? uds.ToString() : string.Empty;
            return path.Length > 0 && path[0] != '\0' && path[0] != '@';
        }
    }

    private static TagList CreateTags(EndPoint endPoint)
    {
        var tags = new TagList();
        switch (endPoint)
        {
            case IPEndPoint ip:
                tags.Add("server.address", ip.Address.ToString());
                tags.Add("server.port", ip.Port);
                tags.Add("network.transport", "tcp");
                tags.Add("network.type", ip.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4");
                break;
            default:
                tags.Add("server.address", endPoint.ToString());
                tags.Add("network.transport", "unix");
                break;
        }

        return tags;
    }

    /// <summary>Accepts until an accept goes pending; synchronous completions loop here instead of recursing.</summary>
    private void AcceptLoop()
    {
        while (!_closed)
        {
            _acceptArgs.AcceptSocket = null;
            bool pending;
            try
            {
                pending = _socket.AcceptAsync(_acceptArgs);
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (pending || !OnAccepted())
            {
                return;
            }
        }
    }

    private void OnAcceptCompleted()
    {
        if (OnAccepted())
        {
            AcceptLoop();
        }
    }

    /// <summary>Handles one accept result; returns whether to accept again at once.</summary>
    private bool OnAccepted()
    {
        var error = _acceptArgs.SocketError;
        if (error == SocketError.Success)
        {
            _retryDelay = TimeSpan.Zero;
            _context.OnAccepted(this, _acceptArgs.AcceptSocket!);
            return true;
        }

        if (_closed)
        {
            return false;
        }

        if (error is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Interrupted)
        {
            EchoServerLog.AcceptedConnectionGone(_context.Logger, EndPoint, error);
            return true;
        }

        _retryDelay = _retryDelay == TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, MaxAcceptRetryDelay.Ticks));
        var exception = new SocketException((int)error);
        EchoServerLog.AcceptFailed(_context.Logger, EndPoint, _retryDelay, exception);
        _context.Server.RaiseServerFaulted(EndPoint, exception);
        try
        {
            _retryTimer.Change(_retryDelay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Closed while failing: nothing to retry.
        }

        return false;
    }

    private sealed class AcceptEventArgs(EchoListener listener) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => listener.OnAcceptCompleted();
    }
}

/// <summary>Totals of one listener, guarded by the <see cref="ConnectionManager"/> lock.</summary>
internal sealed class ListenerCounters
{
    public long Accepted;
    public long Rejected;
    public long ClosedBytesReceived;
    public long ClosedBytesSent;
}
