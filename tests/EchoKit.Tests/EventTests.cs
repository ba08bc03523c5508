using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EchoKit.Tests;

public class EventTests
{
    [Fact]
    public async Task Accepted_and_closed_events_describe_the_connection()
    {
        var accepted = new TaskCompletionSource<ConnectionAcceptedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource<(object? Sender, ConnectionClosedEventArgs Args)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync();
        server.ConnectionAccepted += (_, e) => accepted.TrySetResult(e);
        server.ConnectionClosed += (s, e) => closed.TrySetResult((s, e));

        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await client.EchoAsync(new byte[100]);
            var a = await accepted.Task.WaitAsync(TestHelpers.Timeout);
            Assert.Equal(client.LocalEndPoint, a.RemoteEndPoint);
            Assert.Equal(server.EndPoint(), a.LocalEndPoint);
            client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            Assert.Empty(await client.ReceiveToEndAsync());
        }

        var (sender, c) = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Same(server, sender);
        Assert.Equal((await accepted.Task).ConnectionId, c.ConnectionId);
        Assert.Equal(ConnectionCloseReason.ClientClosed, c.Reason);
        Assert.Equal(100, c.BytesReceived);
        Assert.Equal(100, c.BytesSent);
        Assert.True(c.Duration > TimeSpan.Zero);
        Assert.IsType<IPEndPoint>(c.RemoteEndPoint);
    }

    [Fact]
    public async Task A_throwing_handler_is_logged_and_neither_stops_other_handlers_nor_the_engine()
    {
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var server = new EchoServer(TestHelpers.LoopbackOptions(o => o.MaxConnections = 2), loggerFactory);
        var secondHandlerCalls = 0;
        var closedCalls = 0;
        var rejectedCalls = 0;
        server.ConnectionAccepted += (_, _) => throw new InvalidOperationException("accepted handler bug");
        server.ConnectionAccepted += (_, _) => Interlocked.Increment(ref secondHandlerCalls);
        server.ConnectionClosed += (_, _) => throw new InvalidOperationException("closed handler bug");
        server.ConnectionClosed += (_, _) => Interlocked.Increment(ref closedCalls);
        server.ConnectionRejected += (_, _) => throw new InvalidOperationException("rejected handler bug");
        server.ConnectionRejected += (_, _) => Interlocked.Increment(ref rejectedCalls);
        await server.StartAsync();

        for (var i = 0; i < 5; i++)
        {
            using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
            {
                Assert.Equal(new byte[] { 1, 2, 3 }, await client.EchoAsync([1, 2, 3]));
            }

            // The server sees the close a moment after the client; with MaxConnections = 2 the next client must not
            // race two closes still in flight.
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 0, "the client's close");
        }

        using var held1 = await TestHelpers.ConnectAsync(server.EndPoint());
        await held1.EchoAsync([1]);
        using var held2 = await TestHelpers.ConnectAsync(server.EndPoint());
        await held2.EchoAsync([1]);
        using var rejected = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Empty(await rejected.ReceiveToEndAsync());

        await TestHelpers.WaitUntilAsync(() => Volatile.Read(ref closedCalls) == 5 && Volatile.Read(ref rejectedCalls) == 1, "the other handlers to run");
        Assert.Equal(7, Volatile.Read(ref secondHandlerCalls));
        var failures = logs.Collector.GetSnapshot().Where(r => r.Id.Id == 41).ToList();
        Assert.Contains(failures, r => r.Level == LogLevel.Error && r.Exception?.Message == "accepted handler bug");
        Assert.Contains(failures, r => r.Exception?.Message == "closed handler bug");
        Assert.Contains(failures, r => r.Exception?.Message == "rejected handler bug");
        Assert.Equal(new byte[] { 5 }, await held1.EchoAsync([5]));
    }

    [Fact]
    public async Task A_single_blocking_accepted_handler_delays_only_its_own_connection()
    {
        using var release = new ManualResetEventSlim();
        await using var server = await TestHelpers.StartAsync();
        var first = true;
        server.ConnectionAccepted += (_, _) =>
        {
            if (Interlocked.Exchange(ref first, false))
            {
                release.Wait(TestHelpers.Timeout);
            }
        };

        using var blocked = await TestHelpers.ConnectAsync(server.EndPoint());
        await TestHelpers.WaitUntilAsync(() => !Volatile.Read(ref first), "the first handler to block");
        for (var i = 0; i < 5; i++)
        {
            using var other = await TestHelpers.ConnectAsync(server.EndPoint());
            Assert.Equal(new byte[] { 7 }, await other.EchoAsync([7]));
        }

        release.Set();
        Assert.Equal(new byte[] { 8 }, await blocked.EchoAsync([8]));
    }

    [Fact]
    public async Task Logs_use_stable_event_ids_and_resets_are_not_errors()
    {
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var server = new EchoServer(TestHelpers.LoopbackOptions(), loggerFactory);
        await server.StartAsync();
        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await client.EchoAsync([1]);
            client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 0, "the reset connection to close");
        await server.StopAsync();

        var records = logs.Collector.GetSnapshot();
        Assert.Contains(records, r => r.Id.Id == 1 && r.Level == LogLevel.Information && r.Message.Contains(server.EndPoint().ToString(), StringComparison.Ordinal));
        Assert.Contains(records, r => r.Id.Id == 20 && r.Level == LogLevel.Debug);
        Assert.Contains(records, r => r.Id.Id == 21 && r.Level == LogLevel.Debug && r.Message.Contains("ConnectionReset", StringComparison.Ordinal));
        Assert.Contains(records, r => r.Id.Id == 2);
        Assert.Contains(records, r => r.Id.Id == 3);
        Assert.DoesNotContain(records, r => r.Level >= LogLevel.Warning);
    }
}
