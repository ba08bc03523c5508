using System.Collections.Concurrent;
using System.Net.Sockets;

namespace EchoKit.Tests;

public class LifecycleTests
{
    [Fact]
    public async Task Starting_twice_or_after_stop_throws()
    {
        var server = await TestHelpers.StartAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync());
        await server.StopAsync();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync());
        Assert.Contains("only once", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_before_start_and_dispose_of_a_never_started_server_complete()
    {
        var server = new EchoServer(TestHelpers.LoopbackOptions());
        await server.StopAsync();
        await server.DisposeAsync();
        Assert.Empty(server.EndPoints);
    }

    [Fact]
    public async Task After_stop_the_port_refuses_connections()
    {
        var server = await TestHelpers.StartAsync();
        var endPoint = server.EndPoint();
        await server.StopAsync();

        var ex = await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task Graceful_stop_finishes_the_in_flight_echo_then_closes_with_ServerStopping()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20)));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(64 * 1024 * 1024, seed: 1);

        // Send continuously while reading everything back, as a well-behaved client does: when the server
        // ends the stream, stop sending and close. Stop the server part-way.
        var reader = client.ReceiveToEndAsync();
        var writer = Task.Run(async () =>
        {
            try
            {
                for (var offset = 0; offset < payload.Length && !reader.IsCompleted; offset += 64 * 1024)
                {
                    await client.SendAllAsync(payload.AsMemory(offset, 64 * 1024));
                }

                client.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The server may close while we are still sending.
            }
        });
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent > 1024 * 1024, "echo traffic");

        await server.StopAsync();
        var echoed = await reader;
        await writer;
        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);

        Assert.Equal(ConnectionCloseReason.ServerStopping, result.Reason);
        Assert.Equal(result.BytesReceived, result.BytesSent);
        Assert.Equal(result.BytesSent, echoed.Length);
        Assert.True(echoed.AsSpan().SequenceEqual(payload.AsSpan(0, echoed.Length)), "echoed bytes differ from what was sent");
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Stop_aborts_a_connection_that_cannot_finish_within_the_shutdown_timeout()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200)));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await NeverReadingClientAsync(server);

        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.ServerStopping, result.Reason);
        Assert.True(result.BytesSent < result.BytesReceived, "the stuck echo should have been cut");
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Cancelling_the_stop_token_cuts_the_drain_short()
    {
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10)));
        using var client = await NeverReadingClientAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await server.StopAsync(cts.Token).WaitAsync(TestHelpers.Timeout);

        Assert.Equal(0, server.GetStatistics().ActiveConnections);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Stop_and_dispose_called_twice_and_concurrently_while_connections_are_busy()
    {
        var reasons = new ConcurrentBag<ConnectionCloseReason>();
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(500)));
        server.ConnectionClosed += (_, e) => reasons.Add(e.Reason);
        var clients = new List<Socket>();
        for (var i = 0; i < 20; i++)
        {
            clients.Add(i % 2 == 0 ? await NeverReadingClientAsync(server) : await TestHelpers.ConnectAsync(server.EndPoint()));
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 20, "20 connections");
        var stops = new[]
        {
            Task.Run(() => server.StopAsync()),
            Task.Run(() => server.StopAsync()),
            Task.Run(async () => await server.DisposeAsync()),
            Task.Run(() => server.StopAsync()),
        };
        await Task.WhenAll(stops).WaitAsync(TestHelpers.Timeout);
        await server.DisposeAsync();
        await server.StopAsync();

        Assert.Equal(20, reasons.Count);
        Assert.All(reasons, r => Assert.Equal(ConnectionCloseReason.ServerStopping, r));
        await server.AssertPoolsReturnedAsync();
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Dispose_aborts_at_once_without_waiting_for_the_shutdown_timeout()
    {
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10)));
        using var client = await NeverReadingClientAsync(server);

        await server.DisposeAsync().AsTask().WaitAsync(TestHelpers.Timeout);

        await server.AssertPoolsReturnedAsync();
    }

    /// <summary>A client whose echo is stuck: it sent far more than the socket buffers hold and never reads.</summary>
    internal static async Task<Socket> NeverReadingClientAsync(EchoServer server)
    {
        var client = await TestHelpers.ConnectAsync(server.EndPoint());
        client.ReceiveBufferSize = 64 * 1024;
        var chunk = new byte[64 * 1024];
        var before = server.GetStatistics().BytesReceived;

        // Send until the server stops taking data (its echo is blocked on our full receive window).
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        long sent = 0;
        while (true)
        {
            var send = client.SendAsync(chunk, SocketFlags.None, cts.Token).AsTask();
            if (await IsStuckAsync(server, client, send, cts.Token))
            {
                break;
            }

            sent += await send;
        }

        Assert.True(sent > 0);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived > before, "the server to receive");
        return client;
    }

    /// <summary>
    /// Whether <paramref name="send"/> is blocked for good (false once it completes): it stays pending while the server
    /// holds echo data it has not sent and neither the server's counters nor our receive queue move, over 10 samples
    /// and 300 ms. A pending send alone is not enough: a loaded machine can stall the server for longer than that
    /// (a single time window then breaks off after one chunk, and the echo is not stuck at all).
    /// </summary>
    private static async Task<bool> IsStuckAsync(EchoServer server, Socket client, Task<int> send, CancellationToken cancellationToken)
    {
        const int Samples = 10;
        var window = TimeSpan.FromMilliseconds(300);
        var last = (Received: -1L, Sent: -1L, Queued: -1);
        var still = 0;
        var since = System.Diagnostics.Stopwatch.StartNew();
        while (!send.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var s = server.GetStatistics();
            var now = (Received: s.BytesReceived, Sent: s.BytesSent, Queued: client.Available);
            if (now == last && s.BytesReceived > s.BytesSent)
            {
                if (++still >= Samples && since.Elapsed >= window)
                {
                    return true;
                }
            }
            else
            {
                (last, still) = (now, 0);
                since.Restart();
            }

            await Task.WhenAny(send, Task.Delay(30, cancellationToken));
        }

        return false;
    }
}
