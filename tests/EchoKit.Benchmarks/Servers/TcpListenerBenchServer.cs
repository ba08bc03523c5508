using System.Net;
using System.Net.Sockets;

namespace EchoKit.Benchmarks.Servers;

/// <summary>
/// The textbook accept loop the naive servers share: a <see cref="TcpListener"/> on 127.0.0.1, one
/// <see cref="ServeAsync"/> per accepted client, never awaited; a failed accept (say, too many open files) pauses
/// briefly and goes on.
/// </summary>
public abstract class TcpListenerBenchServer : IBenchServer
{
    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _listener;
    private Task? _acceptLoop;

    /// <summary>Cancelled when the server stops.</summary>
    protected CancellationToken Stopping => _stop.Token;

    public Task StartAsync(int port)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start(512);
        _acceptLoop = AcceptLoopAsync(_listener);
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Stop();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }

        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Serves one accepted client until it or the server is done; disposes it.</summary>
    protected abstract Task ServeAsync(TcpClient client);

    /// <summary>What ends a connection without being an error: the peer went away or the server is stopping.</summary>
    protected static bool IsDisconnect(Exception ex) =>
        ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException;

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // For example too many open files: keep accepting after a short pause.
                await Task.Delay(10);
                continue;
            }

            _ = ServeAsync(client);
        }
    }
}
