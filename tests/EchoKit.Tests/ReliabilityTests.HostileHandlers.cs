using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>
    /// Event handlers that throw and handlers that block (2 s sleeps) on ConnectionAccepted, ConnectionClosed and
    /// ConnectionRejected, while 50 connections echo and 20 more are rejected. Every echo is verified, every
    /// connection is closed and reported to the well-behaved subscriber, and pools and sockets come back to
    /// baseline. The delay that blocking handlers cause to the OTHER connections is recorded, not asserted: it is
    /// a known engine issue (docs/RELIABILITY.md, "Engine issues found"), pinned by the skipped test below.
    /// </summary>
    [Fact]
    public async Task HostileEventHandlers_that_throw_or_block_do_not_stop_the_engine()
    {
        const int Connections = 50;
        const int Rejected = 10;
        const int Rounds = 4;
        const int Size = 256 * KiB;
        var block = TimeSpan.FromSeconds(2);

        using var guard = new EscapedExceptionGuard();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        var heapBefore = ReliabilityProbe.LiveManagedBytes();
        ThreadPool.GetMinThreads(out var minWorkers, out _);
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxConnections = Connections));
        long acceptedCalls = 0, acceptedThrew = 0, acceptedBlocked = 0, closedThrew = 0, closedBlocked = 0, rejectedCalls = 0;
        var recorded = new ConcurrentQueue<ConnectionClosedEventArgs>();

        // Connection ids are 1, 2, 3, ...: one in ten blocks on accept, one in ten throws on accept, one in ten blocks
        // on close, one in ten throws on close. Every rejection handler throws, every other one blocks first.
        server.ConnectionAccepted += (_, e) =>
        {
            Interlocked.Increment(ref acceptedCalls);
            switch (e.ConnectionId % 10)
            {
                case 0:
                    Interlocked.Increment(ref acceptedBlocked);
                    Thread.Sleep(block);
                    break;
                case 1:
                    Interlocked.Increment(ref acceptedThrew);
                    throw new InvalidOperationException("hostile accepted handler");
            }
        };
        server.ConnectionClosed += (_, e) =>
        {
            switch (e.ConnectionId % 10)
            {
                case 2:
                    Interlocked.Increment(ref closedBlocked);
                    Thread.Sleep(block);
                    break;
                case 3:
                    Interlocked.Increment(ref closedThrew);
                    throw new InvalidOperationException("hostile closed handler");
            }
        };
        server.ConnectionClosed += (_, e) => recorded.Enqueue(e);
        server.ConnectionRejected += (_, _) =>
        {
            if (Interlocked.Increment(ref rejectedCalls) % 2 == 0)
            {
                Thread.Sleep(block);
            }

            throw new InvalidOperationException("hostile rejected handler");
        };

        var accepted = new ConcurrentDictionary<string, long>();
        server.ConnectionAccepted += (_, e) => accepted[e.RemoteEndPoint!.ToString()!] = e.ConnectionId;
        var clients = new Socket[Connections];
        var clientEndPoints = new string[Connections];
        for (var i = 0; i < Connections; i++)
        {
            clients[i] = await TestHelpers.ConnectAsync(server.EndPoint());
            clientEndPoints[i] = clients[i].LocalEndPoint!.ToString()!;
        }

        var watch = Stopwatch.StartNew();
        var times = new TimeSpan[Connections];
        var echoes = Enumerable.Range(0, Connections).Select(i => Task.Run(async () =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                var payload = TestHelpers.RandomBytes(Size, seed: 600 + (i * Rounds) + round);
                var echoed = await ReliabilityClients.EchoConcurrentlyAsync(clients[i], payload, 16 * KiB);
                Assert.True(echoed.AsSpan().SequenceEqual(payload), $"connection {i} round {round}: echo differs");
            }

            times[i] = watch.Elapsed;
        })).ToArray();

        // Rejections meanwhile: the server is full, so these are turned away, and their handlers throw or block.
        for (var i = 0; i < Rejected; i++)
        {
            using var extra = await TestHelpers.ConnectAsync(server.EndPoint());
            Assert.Empty(await extra.ReceiveToEndAsync());
        }

        await Task.WhenAll(echoes).WaitAsync(TimeSpan.FromSeconds(60));
        var echoTook = watch.Elapsed;

        // Then every client half-closes and reads to the end; the server closes each, running the close handlers.
        await Task.WhenAll(clients.Select(async c =>
        {
            c.Shutdown(SocketShutdown.Send);
            Assert.Empty(await ReliabilityClients.ReceiveUntilEndOfStreamAsync(c));
        })).WaitAsync(TestHelpers.Timeout);
        await TestHelpers.WaitUntilAsync(() => recorded.Count == Connections, $"{Connections} closes reported (have {recorded.Count})");
        await TestHelpers.WaitUntilAsync(() => Interlocked.Read(ref rejectedCalls) == Rejected, "every rejection handler to run");
        var allClosed = watch.Elapsed;
        foreach (var c in clients)
        {
            c.Dispose();
        }

        Array.Clear(clients);
        await server.AssertPoolsReturnedAsync();
        var heapAfter = ReliabilityProbe.LiveManagedBytes();
        var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore + 1);
        var stats = server.GetStatistics();

        // Connections whose accepted handler blocked started 2 s late; how long did the others take?
        var blockedOwn = Enumerable.Range(0, Connections).Where(i => accepted[clientEndPoints[i]] % 10 == 0).ToHashSet();
        var others = Enumerable.Range(0, Connections).Where(i => !blockedOwn.Contains(i)).Select(i => times[i]).Order().ToArray();
        var sorted = times.Order().ToArray();
        Figure("hostile-handlers", $"{Connections} connections x {Rounds} x {Size / KiB} KiB echoed and verified ({Mb((long)Connections * Rounds * Size)}) while {acceptedBlocked} accepted handlers slept {block.TotalSeconds:0} s, {acceptedThrew} threw; {closedBlocked} closed handlers slept, {closedThrew} threw; {Rejected} rejections, every handler threw, every other slept");
        Figure("hostile-handlers", $"echo finished: connections whose own handlers did not block: fastest {others[0].TotalSeconds:0.00} s, median {others[others.Length / 2].TotalSeconds:0.00} s; all: slowest {sorted[^1].TotalSeconds:0.00} s (total {echoTook.TotalSeconds:0.00} s); all closed and reported after {allClosed.TotalSeconds:0.0} s; thread pool min workers {minWorkers}, threads now {ThreadPool.ThreadCount}");
        Figure("hostile-handlers", $"accepted {stats.AcceptedConnections}, rejected {stats.RejectedConnections}, active {stats.ActiveConnections}, pools outstanding {server.PoolOutstanding}; open sockets {socketsBefore} -> {socketsAfter} (+1 listener); live heap {Mb(heapBefore)} -> {Mb(heapAfter)}");

        Assert.Equal(Connections, stats.AcceptedConnections);
        Assert.Equal(Rejected, stats.RejectedConnections);
        Assert.Equal(Connections, accepted.Count);
        Assert.All(recorded, e =>
        {
            Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
            Assert.Equal((long)Rounds * Size, e.BytesReceived);
            Assert.Equal((long)Rounds * Size, e.BytesSent);
        });
        Assert.Equal(Connections / 10, Interlocked.Read(ref acceptedBlocked));
        Assert.Equal(Connections / 10, Interlocked.Read(ref acceptedThrew));
        Assert.Equal(Connections / 10, Interlocked.Read(ref closedBlocked));
        Assert.Equal(Connections / 10, Interlocked.Read(ref closedThrew));
        Assert.Equal(socketsBefore + 1, socketsAfter);
        guard.AssertNone();
    }

    /// <summary>
    /// The README says a blocking ConnectionAccepted handler "delays only that connection". That holds for one or two,
    /// but handlers run on the thread pool that also runs every connection's I/O completions: with 10 of 50 accepted
    /// handlers sleeping 2 s on 2 cores, connections whose own handlers return at once take about 3 s for 1 MiB of
    /// echo instead of 0.05 s, until the pool has injected enough threads. Skipped until the engine keeps blocking
    /// handlers off the I/O path (or the README's promise changes); see docs/RELIABILITY.md, "Engine issues found".
    /// </summary>
    [Fact(Skip = "Known engine issue: blocking event handlers starve the thread pool and delay every connection (docs/RELIABILITY.md)")]
    public async Task KnownIssue_blocking_accepted_handlers_on_some_connections_do_not_delay_the_others()
    {
        const int Connections = 50;
        await using var server = await TestHelpers.StartAsync();
        server.ConnectionAccepted += (_, e) =>
        {
            if (e.ConnectionId % 5 == 0)
            {
                Thread.Sleep(TimeSpan.FromSeconds(2));
            }
        };
        var ids = new ConcurrentDictionary<string, long>();
        server.ConnectionAccepted += (_, e) => ids[e.RemoteEndPoint!.ToString()!] = e.ConnectionId;
        var clients = new Socket[Connections];
        for (var i = 0; i < Connections; i++)
        {
            clients[i] = await TestHelpers.ConnectAsync(server.EndPoint());
        }

        try
        {
            var watch = Stopwatch.StartNew();
            var times = await Task.WhenAll(Enumerable.Range(0, Connections).Select(i => Task.Run(async () =>
            {
                var payload = TestHelpers.RandomBytes(MiB, seed: i);
                var echoed = await ReliabilityClients.EchoConcurrentlyAsync(clients[i], payload, 64 * KiB);
                Assert.True(echoed.AsSpan().SequenceEqual(payload));
                return watch.Elapsed;
            }))).WaitAsync(TestHelpers.Timeout);

            await TestHelpers.WaitUntilAsync(() => ids.Count == Connections, "every accepted handler");
            var unaffected = Enumerable.Range(0, Connections).Where(i => ids[clients[i].LocalEndPoint!.ToString()!] % 5 != 0).Select(i => times[i]).Order().ToArray();
            Assert.True(unaffected[unaffected.Length / 2] < TimeSpan.FromSeconds(1), $"connections with non-blocking handlers took a median {unaffected[unaffected.Length / 2]} for 1 MiB of echo");
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }
}
