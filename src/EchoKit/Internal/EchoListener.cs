using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>One bound listening socket and its accept loop.</summary>
internal sealed partial class EchoListener : IDisposable, IEchoListener
{
    private readonly ServerContext _context;
    private readonly Socket _socket;
    private readonly AcceptEventArgs _acceptArgs;
    private readonly RetryBackoff _retry;
    private volatile bool _closed;

    private EchoListener(ServerContext context, Socket socket, EndPoint boundEndPoint, EchoTransport transport, SslServerAuthenticationOptions? tls)
    {
        _context = context;
        _socket = socket;
        EndPoint = boundEndPoint;
        Transport = transport;
        TlsAuthentication = tls;
        IsTcp = socket.ProtocolType == ProtocolType.Tcp;
        Tags = CreateTags(boundEndPoint, transport == EchoTransport.Unix ? "unix" : "tcp");
        _acceptArgs = new AcceptEventArgs(this);
        _retry = new RetryBackoff(AcceptLoop);
    }

    /// <summary>The endpoint actually bound (the real port when 0 was asked for).</summary>
    public EndPoint EndPoint { get; }

    public bool IsTcp { get; }

    /// <summary><see cref="EchoTransport.Tcp"/>, <see cref="EchoTransport.Tls"/> or <see cref="EchoTransport.Unix"/>.</summary>
    public EchoTransport Transport { get; }

    /// <summary>The options of every handshake on a TLS listener (built once per server); <see langword="null"/> otherwise.</summary>
    public SslServerAuthenticationOptions? TlsAuthentication { get; }

    /// <summary>Metric tags of this listener: <c>server.address</c>, <c>server.port</c>, <c>network.transport</c>, <c>network.type</c>.</summary>
    public TagList Tags { get; }

    /// <summary>Per-listener totals; written only under the <see cref="ConnectionSet"/>'s lock.</summary>
    public ListenerCounters Counters { get; } = new();

    /// <summary>
    /// Binds and listens, or throws an <see cref="IOException"/> naming the endpoint. A Unix socket file in the way is
    /// removed when it is a socket nobody listens on (left behind by a process that died); see <see cref="UnixSocketFile"/>.
    /// </summary>
    public static EchoListener Bind(ServerContext context, EndPoint endPoint, SslServerAuthenticationOptions? tls = null)
    {
        var options = context.Options;
        Socket socket;
        EchoTransport transport;
        if (endPoint is UnixDomainSocketEndPoint)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            transport = EchoTransport.Unix;
        }
        else
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            transport = tls is null ? EchoTransport.Tcp : EchoTransport.Tls;
            if (endPoint is IPEndPoint ip && ip.Address.Equals(IPAddress.IPv6Any) && options.DualMode)
            {
                socket.DualMode = true;
            }
        }

        try
        {
            try
            {
                socket.Bind(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse && IsSocketFile(endPoint, out var path))
            {
                if (!UnixSocketFile.TryRemoveStale(path, out var problem))
                {
                    throw new IOException($"{context.OwnerName} failed to bind to {path}: {problem}.", ex);
                }

                EchoServerLog.StaleSocketFileRemoved(context.Logger, path);
                socket.Bind(endPoint);
            }

            if (transport != EchoTransport.Unix)
            {
                // Set on the listener too: Linux passes them on to every accepted socket (see ConfigureAccepted).
                SetTcpOptions(socket, options);
            }

            socket.Listen(options.Backlog);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw BindFailed(endPoint, transport == EchoTransport.Tls ? "TLS " : "", ex, context.OwnerName);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new EchoListener(context, socket, socket.LocalEndPoint ?? endPoint, transport, tls);
    }

    /// <summary>The exception for a failed bind: names the endpoint (and, when given, the transport) and says why in plain words.</summary>
    public static IOException BindFailed(EndPoint endPoint, string transport, SocketException ex, string owner = nameof(EchoServer))
    {
        var what = ex.SocketErrorCode switch
        {
            SocketError.AddressAlreadyInUse => "the address is already in use",
            SocketError.AddressNotAvailable => "the address is not available on this machine",
            SocketError.AccessDenied => "access was denied (ports below 1024 need privileges)",
            _ => ex.Message,
        };
        return new IOException($"{owner} failed to bind {transport}to {endPoint}: {what}.", ex);
    }

    /// <summary>
    /// Admits or rejects a freshly accepted socket and starts serving it; runs on the accept loop, so it never blocks.
    /// The same for every stream transport: the connection's pump picks its transport.
    /// </summary>
    private void Admit(Socket socket)
    {
        if (!ConfigureAccepted(socket))
        {
            return;
        }

        var context = _context;
        var connection = context.ConnectionPool.Rent();
        connection.Initialize(context.NextConnectionId(), this, socket);

        if (connection.TryRefuseByFault() || connection.TryRejectUntrusted())
        {
            return;
        }

        if (!context.Connections.TryAdd(connection, context.Descriptors?.LeavesMargin(socket) ?? true, out var rejection))
        {
            connection.Reject(rejection);
            if (rejection == ConnectionRejectionReason.DescriptorLimitReached)
            {
                context.Descriptors!.WarnRejected(this);
            }

            return;
        }

        context.Metrics.ConnectionStarted(this);
        connection.Start();
    }

    /// <summary>
    /// The one accept-time setup of a stream socket: TCP options, unless the listener passed them on already (Linux
    /// copies TCP_NODELAY and SO_KEEPALIVE from the listening socket, which saves two system calls per connection).
    /// Returns <see langword="false"/>, with the socket closed, when the client already went away.
    /// </summary>
    private bool ConfigureAccepted(Socket socket)
    {
        if (!IsTcp || AcceptedSocketsInheritOptions)
        {
            return true;
        }

        try
        {
            SetTcpOptions(socket, _context.Options);
            return true;
        }
        catch (SocketException)
        {
            // Nothing was admitted, so nothing to count.
            socket.Dispose();
            return false;
        }
    }

    public void Start() => ThreadPool.UnsafeQueueUserWorkItem(static s => s.AcceptLoop(), this, preferLocal: false);

    public void Dispose()
    {
        _closed = true;
        _retry.Dispose();
        // Disposing a bound Unix domain socket also removes its file (the runtime does it), so nothing else
        // deletes it here: a second delete could remove a file another process has bound since.
        _socket.Dispose();
    }

    /// <summary>Metric tags of a listener: <c>server.address</c>, <c>server.port</c>, <c>network.transport</c>, <c>network.type</c>.</summary>
    public static TagList CreateTags(EndPoint endPoint, string transport)
    {
        var tags = new TagList();
        switch (endPoint)
        {
            case IPEndPoint ip:
                tags.Add("server.address", ip.Address.ToString());
                tags.Add("server.port", ip.Port);
                tags.Add("network.transport", transport);
                tags.Add("network.type", ip.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4");
                break;
            default:
                tags.Add("server.address", endPoint.ToString());
                tags.Add("network.transport", transport);
                break;
        }

        return tags;
    }

    /// <summary>Whether accepted sockets start with the listening socket's TCP options.</summary>
    private static bool AcceptedSocketsInheritOptions => OperatingSystem.IsLinux();

    private static void SetTcpOptions(Socket socket, EchoServerOptions options)
    {
        socket.NoDelay = options.NoDelay;
        if (options.KeepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        }
    }

    /// <summary>Whether <paramref name="endPoint"/> is a Unix socket with a path in the file system (not an abstract name).</summary>
    private static bool IsSocketFile(EndPoint endPoint, out string path)
    {
        path = endPoint is UnixDomainSocketEndPoint uds ? uds.ToString() : string.Empty;
        return path.Length > 0 && path[0] != '\0' && path[0] != '@';
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
            _retry.Reset();
            Admit(_acceptArgs.AcceptSocket!);
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

        // Out of descriptors: close what waits instead of leaving it in the backlog, then accept again.
        if (ReserveDescriptor.IsExhaustion(error) && _context.Descriptors?.Shed(this, _socket) > 0)
        {
            return true;
        }

        var exception = new SocketException((int)error);
        EchoServerLog.AcceptFailed(_context.Logger, EndPoint, _retry.Next(), exception);
        _context.Server.RaiseServerFaulted(EndPoint, exception);
        _retry.Schedule();
        return false;
    }

    private sealed class AcceptEventArgs(EchoListener listener) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => listener.OnAcceptCompleted();
    }
}

/// <summary>Totals of one listener, guarded by the <see cref="ConnectionSet"/>'s lock.</summary>
internal sealed class ListenerCounters
{
    public long Accepted;
    public long Rejected;
    public long ClosedBytesReceived;
    public long ClosedBytesSent;
    public long TlsHandshakeFailures;
}
