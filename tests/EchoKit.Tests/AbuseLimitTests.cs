using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

public class AbuseLimitTests
{
    [Fact]
    public async Task MaxConnectionsPerAddress_rejects_the_extra_connection_from_one_address_but_not_from_another()
    {
        var rejected = new ConcurrentQueue<ConnectionRejectedEventArgs>();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxConnectionsPerAddress = 2));
        server.ConnectionRejected += (_, e) => rejected.Enqueue(e);
        using var a1 = await ConnectFromAsync(IPAddress.Loopback, server.EndPoint());
        using var a2 = await ConnectFromAsync(IPAddress.Loopback, server.EndPoint());
        await a1.EchoAsync([1]);
        await a2.EchoAsync([2]);

        using var a3 = await ConnectFromAsync(IPAddress.Loopback, server.EndPoint());
        Assert.Empty(await a3.ReceiveToEndAsync());
        using var b1 = await ConnectFromAsync(IPAddress.Parse("127.0.0.2"), server.EndPoint());
        Assert.Equal(new byte[] { 3 }, await b1.EchoAsync([3]));

        await TestHelpers.WaitUntilAsync(() => rejected.Count == 1, "one rejection");
        Assert.Equal(ConnectionRejectionReason.MaxConnectionsPerAddressExceeded, rejected.Single().Reason);

        // A slot freed by that address is usable again.
        a1.Dispose();
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 2, "a freed slot");
        using var a4 = await ConnectFromAsync(IPAddress.Loopback, server.EndPoint());
        Assert.Equal(new byte[] { 4 }, await a4.EchoAsync([4]));
    }

    [Fact]
    public async Task MaxBytesPerConnection_echoes_up_to_the_limit_then_closes_gracefully()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxBytesPerConnection = 1000));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(5000, seed: 5);

        var reading = client.ReceiveToEndAsync();
        try
        {
            await client.SendAllAsync(payload);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server may have closed before all 5000 bytes were written.
        }

        var echoed = await reading;
        Assert.Equal(payload.AsSpan(0, 1000).ToArray(), echoed);
        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.ByteLimitExceeded, result.Reason);
        Assert.Equal(1000, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
    }

    private static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(source, 0));
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        await socket.ConnectAsync(server, cts.Token);
        return socket;
    }
}

/// <summary>Limits measured in time run alone, so a saturated test host cannot blur them.</summary>
[Collection(nameof(IdleTimeoutTests))]
public class TimedLimitTests
{
    [Fact]
    public async Task SendTimeout_closes_a_client_that_never_reads_and_frees_its_resources_while_others_echo()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.SendTimeout = TimeSpan.FromMilliseconds(500)));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var healthy = await TestHelpers.ConnectAsync(server.EndPoint());
        using var stuck = await TestHelpers.ConnectAsync(server.EndPoint());
        await SendWithoutReadingUntilClosedAsync(stuck, closed.Task);

        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.SendTimeout, result.Reason);
        Assert.True(result.BytesSent < result.BytesReceived);
        Assert.Equal(new byte[] { 1, 2 }, await healthy.EchoAsync([1, 2]));
        Assert.Equal(1, server.GetStatistics().ActiveConnections);
        // The healthy connection may still be returning its buffer just after its echo arrived.
        await TestHelpers.WaitUntilAsync(() => server.PoolOutstanding == (1, 0), $"only the healthy connection's object out (was {server.PoolOutstanding})");
    }

    /// <summary>
    /// Floods the server and never reads until it closes the connection. Not LifecycleTests.NeverReadingClientAsync:
    /// its stuck test samples for 300 ms or more, and a short send timeout can close the connection during the
    /// sampling (the send then fails with a reset, which here is the outcome under test, not an error).
    /// </summary>
    private static async Task SendWithoutReadingUntilClosedAsync(Socket client, Task closed)
    {
        client.ReceiveBufferSize = 64 * 1024;
        var chunk = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        while (!closed.IsCompleted)
        {
            var send = client.SendAsync(chunk, SocketFlags.None, cts.Token).AsTask();
            await Task.WhenAny(send, closed).WaitAsync(cts.Token);
            if (!send.IsCompleted)
            {
                // Fails with a reset or completes when the socket goes: observed, not awaited.
                _ = send.ContinueWith(t => t.Exception, TaskScheduler.Default);
                return;
            }

            if (send.IsFaulted && send.Exception.InnerException is SocketException)
            {
                return;
            }

            await send;
        }
    }

    [Fact]
    public async Task MaxConnectionLifetime_closes_a_busy_connection_gracefully_after_delivering_its_echo()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxConnectionLifetime = TimeSpan.FromMilliseconds(500)));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(256 * 1024, seed: 6);

        var reader = client.ReceiveToEndAsync();
        var sent = 0L;
        try
        {
            while (!reader.IsCompleted && sent < 512L * 1024 * 1024)
            {
                await client.SendAllAsync(payload);
                sent += payload.Length;
            }

            client.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server may close while we are still sending.
        }

        var echoed = await reader;
        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.LifetimeExceeded, result.Reason);
        Assert.Equal(result.BytesReceived, result.BytesSent);
        Assert.Equal(result.BytesSent, echoed.Length);
        for (var offset = 0; offset < echoed.Length; offset += payload.Length)
        {
            var length = Math.Min(payload.Length, echoed.Length - offset);
            Assert.True(echoed.AsSpan(offset, length).SequenceEqual(payload.AsSpan(0, length)), $"bytes differ at {offset}");
        }
    }

    [Fact]
    public async Task MaxConnectionRate_rejects_a_burst_beyond_the_rate()
    {
        var reasons = new ConcurrentQueue<ConnectionRejectionReason>();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxConnectionRate = 5));
        server.ConnectionRejected += (_, e) => reasons.Enqueue(e.Reason);
        var sockets = new List<Socket>();
        for (var i = 0; i < 30; i++)
        {
            sockets.Add(await TestHelpers.ConnectAsync(server.EndPoint()));
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics() is var s && s.AcceptedConnections + s.RejectedConnections == 30, "all 30 to be decided");
        var stats = server.GetStatistics();
        Assert.InRange(stats.AcceptedConnections, 5, 25);
        Assert.True(stats.RejectedConnections >= 5, $"only {stats.RejectedConnections} rejected");
        await TestHelpers.WaitUntilAsync(() => reasons.Count == stats.RejectedConnections, "rejection events");
        Assert.All(reasons, r => Assert.Equal(ConnectionRejectionReason.RateLimited, r));
        sockets.ForEach(s => s.Dispose());
    }
}
