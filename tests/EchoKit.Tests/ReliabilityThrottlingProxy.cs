using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>
/// A TCP proxy on 127.0.0.1 that forwards each connection to <c>upstream</c> at no more than
/// <c>bytesPerSecond</c> in each direction (a token bucket with a 4 KiB burst), and passes a half-close on.
/// It stands in for a bandwidth-limited client (what Debian's <c>trickle</c> would do, without an external tool).
/// </summary>
internal sealed class ReliabilityThrottlingProxy : IAsyncDisposable
{
    private const int Burst = 4 * 1024;

    private readonly Socket _listener;
    private readonly IPEndPoint _upstream;
    private readonly int _bytesPerSecond;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Lock _lock = new();
    private readonly Task _acceptLoop;

    public ReliabilityThrottlingProxy(IPEndPoint upstream, int bytesPerSecond)
    {
        _upstream = upstream;
        _bytesPerSecond = bytesPerSecond;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] pumps;
        lock (_lock)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps).WaitAsync(TestHelpers.Timeout).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_lock)
            {
                _pumps.Add(Task.Run(() => ServeAsync(client)));
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        using (var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true })
        {
            try
            {
                client.NoDelay = true;
                await upstream.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
                await Task.WhenAll(PumpAsync(client, upstream), PumpAsync(upstream, client)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped, or one side went away: both sockets are closed below.
            }
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/> at the rate, then passes the end of stream on.</summary>
    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[Burst];
        var clock = Stopwatch.StartNew();
        double tokens = Burst;
        var refilledAt = TimeSpan.Zero;
        while (true)
        {
            // Wait until a burst's worth is allowed, then read at most what is allowed.
            var now = clock.Elapsed;
            tokens = Math.Min(Burst, tokens + ((now - refilledAt).TotalSeconds * _bytesPerSecond));
            refilledAt = now;
            if (tokens < 1)
            {
                await Task.Delay(TimeSpan.FromSeconds((1 - tokens) / _bytesPerSecond) + TimeSpan.FromMilliseconds(1), _stop.Token).ConfigureAwait(false);
                continue;
            }

            var read = await from.ReceiveAsync(buffer.AsMemory(0, (int)tokens), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                to.Shutdown(SocketShutdown.Send);
                return;
            }

            tokens -= read;
            var chunk = buffer.AsMemory(0, read);
            while (!chunk.IsEmpty)
            {
                chunk = chunk[await to.SendAsync(chunk, SocketFlags.None, _stop.Token).ConfigureAwait(false)..];
            }
        }
    }
}
