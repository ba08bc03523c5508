using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>What every part of one running server shares: options, pools, the connection set, logging and metrics.</summary>
internal sealed class ServerContext : IDisposable
{
    // Idle objects kept for reuse; more than this come and go with the GC. Idle buffers are capped by bytes,
    // so a burst of busy connections leaves at most 16 MiB of pinned buffers behind.
    private const int MaxRetainedConnections = 1024;
    private const int MaxRetainedBufferBytes = 16 * 1024 * 1024;

    private long _lastConnectionId;

    public ServerContext(EchoServer server, EchoServerOptions options, ILogger logger, EchoServerMetrics metrics, ConnectionManager connections)
    {
        Server = server;
        Options = options;
        Logger = logger;
        Metrics = metrics;
        Connections = connections;
        var bufferSize = options.ReceiveBufferSize;
        Buffers = new BoundedPool<byte[]>(() => GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true),
            Math.Clamp(MaxRetainedBufferBytes / bufferSize, 16, 1024));
        ConnectionPool = new BoundedPool<EchoConnection>(() => new EchoConnection(this), MaxRetainedConnections);
    }

    public EchoServer Server { get; }

    public EchoServerOptions Options { get; }

    public ILogger Logger { get; }

    public EchoServerMetrics Metrics { get; }

    public ConnectionManager Connections { get; }

    /// <summary>Receive buffers: pinned, so the runtime never pins per operation and the GC never moves them.</summary>
    public BoundedPool<byte[]> Buffers { get; }

    public BoundedPool<EchoConnection> ConnectionPool { get; }

    /// <summary>The next connection id; shared by every transport, so ids are unique within the server.</summary>
    public long NextConnectionId() => Interlocked.Increment(ref _lastConnectionId);

    /// <summary>Admits or rejects a freshly accepted socket; runs on the accept loop, so it never blocks.</summary>
    public void OnAccepted(EchoListener listener, Socket socket)
    {
        if (listener.IsTcp)
        {
            try
            {
                socket.NoDelay = Options.NoDelay;
                if (Options.KeepAlive)
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
        }

        var connection = ConnectionPool.Rent();
        connection.Initialize(Interlocked.Increment(ref _lastConnectionId), listener, socket);
        if (!Connections.TryAdd(connection, out var rejection))
        {
            connection.Reject(rejection);
            return;
        }

        Metrics.ConnectionStarted(listener);
        ThreadPool.UnsafeQueueUserWorkItem(connection, preferLocal: false);
    }

    public void Dispose()
    {
        foreach (var connection in ConnectionPool.Drain())
        {
            connection.Dispose();
        }

        Buffers.Drain();
        Metrics.Dispose();
    }
}
