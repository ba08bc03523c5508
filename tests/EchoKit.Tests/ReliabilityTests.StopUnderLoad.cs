using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>
    /// StopAsync while 50 connections echo at full speed, and in two variants 10 more whose clients never read (their
    /// echo cannot finish). When the ShutdownTimeout allows, the drain delivers every byte the server received to every
    /// reading client: BytesReceived == BytesSent == what the client read before its end of stream, and what it read
    /// is exactly the start of what it sent. The stuck connections are aborted when the timeout runs out (at once with
    /// ShutdownTimeout 0), reason ServerStopping, their unsent echo dropped. No byte is echoed twice or out of order,
    /// every connection is accounted for, no exception escapes, and pools and sockets come back to baseline.
    /// </summary>
    [Theory]
    [InlineData(20_000, 0)]
    [InlineData(1_000, 10)]
    [InlineData(0, 10)]
    public async Task StopUnderLoad_drains_every_received_byte_or_aborts_cleanly(int shutdownTimeoutMs, int neverReading)
    {
        const int Connections = 50;
        const int Chunk = 64 * KiB;
        var graceful = shutdownTimeoutMs > 0;
        var scenario = $"stop-{shutdownTimeoutMs}ms-{neverReading}stuck";

        using var guard = new EscapedExceptionGuard();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        var heapBefore = ReliabilityProbe.LiveManagedBytes();
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(shutdownTimeoutMs)));
        var closed = TrackClosed(server);

        // Every connection sends its own endless stream: a shared random block, rotated by a per-connection offset.
        var block = TestHelpers.RandomBytes(1 * MiB, seed: 50);
        var clients = new Socket[Connections];
        var endPoints = new EndPoint[Connections];
        var read = new long[Connections];
        var written = new long[Connections];
        var endings = new ConcurrentDictionary<int, string>();
        var stuck = Array.Empty<Socket>();
        var stuckSenders = Array.Empty<Task>();
        Task[] runs;
        try
        {
            for (var i = 0; i < Connections; i++)
            {
                clients[i] = await ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(30 + (i % 10)), server.EndPoint());
                endPoints[i] = clients[i].LocalEndPoint!;
            }

            // Never-reading clients (before the load, so their stall can be seen in the counters): 1 MiB each, sent by
            // tasks that are awaited at the end, so a reset of their blocked send is observed.
            stuck = await Task.WhenAll(Enumerable.Range(0, neverReading).Select(i =>
                ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(40), server.EndPoint(), receiveBufferSize: 4 * KiB, maxSegmentSize: 1460)));
            var stuckEndPoints = stuck.Select(s => s.LocalEndPoint!).ToArray();
            stuckSenders = stuck.Select(s => Task.Run(async () =>
            {
                try
                {
                    await s.SendAllAsync(block);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    // Reset by the abort while blocked.
                }
            })).ToArray();
            if (neverReading > 0)
            {
                await WaitForStallAsync(server);
            }

            runs = Enumerable.Range(0, Connections).Select(i => Task.Run(() => StreamUntilServerEndsAsync(clients[i], block, offset: i * 7919, Chunk, read, written, i, endings))).ToArray();
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent > Connections * 2L * MiB, "full-speed echo on every connection");
            await Task.Delay(300);
            var heapPeak = ReliabilityProbe.LiveManagedBytes();
            var atStop = server.GetStatistics();

            var stopWatch = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(TestHelpers.Timeout);
            var stopTook = stopWatch.Elapsed;
            await Task.WhenAll(runs).WaitAsync(TestHelpers.Timeout);
            await Task.WhenAll(stuckSenders).WaitAsync(TestHelpers.Timeout);

            await TestHelpers.WaitUntilAsync(() => closed.Count == Connections + neverReading, $"{Connections + neverReading} closes (have {closed.Count})");
            var byClient = closed.ToDictionary(e => e.RemoteEndPoint!);
            var cut = 0L;
            foreach (var endPoint in stuckEndPoints)
            {
                var e = byClient[endPoint];
                Assert.Equal(ConnectionCloseReason.ServerStopping, e.Reason);
                Assert.True(e.BytesSent < e.BytesReceived, "a never-reading client's echo should have been cut");
                cut += e.BytesReceived - e.BytesSent;
            }

            long totalReceived = 0, totalSent = 0, totalRead = 0, undelivered = 0, uncounted = 0;
            for (var i = 0; i < Connections; i++)
            {
                var e = byClient[endPoints[i]];
                Assert.Equal(ConnectionCloseReason.ServerStopping, e.Reason);
                Assert.True(e.BytesSent <= e.BytesReceived, $"connection {i}: more sent than received");
                // Known engine issue (docs/RELIABILITY.md): a send cut by an abort does not count the part the kernel had
                // already taken, which can still reach the client, so BytesSent can be short by up to one buffer. Pinned
                // strictly by BytesSent_counts_the_part_of_an_aborted_send_the_kernel_took below.
                Assert.True(read[i] <= e.BytesSent + ReceiveBufferSize, $"connection {i}: read {read[i]}, more than the server sent ({e.BytesSent}) plus one buffer");
                uncounted = Math.Max(uncounted, read[i] - e.BytesSent);
                // A send cancelled when the server ended the stream may have passed part of its chunk to the kernel uncounted.
                Assert.True(e.BytesReceived <= written[i] + Chunk, $"connection {i}: received {e.BytesReceived}, more than was written ({written[i]})");
                if (graceful)
                {
                    Assert.Equal(e.BytesReceived, e.BytesSent);
                    Assert.Equal(e.BytesSent, read[i]);
                    Assert.Equal("end of stream", endings[i]);
                }

                totalReceived += e.BytesReceived;
                totalSent += e.BytesSent;
                totalRead += read[i];
                undelivered += e.BytesReceived - read[i];
            }

            foreach (var c in clients.Concat(stuck))
            {
                c.Dispose();
            }

            await server.AssertPoolsReturnedAsync();
            var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore);
            Array.Clear(clients);
            Array.Clear(stuck);
            Array.Clear(stuckSenders);
            closed.Clear();
            var heapAfter = ReliabilityProbe.LiveManagedBytes();
            var endingCounts = string.Join(", ", endings.Values.GroupBy(v => v).Select(g => $"{g.Count()} {g.Key}"));

            Figure(scenario, $"ShutdownTimeout {shutdownTimeoutMs} ms; StopAsync during {Connections} full-speed connections ({Mb(atStop.BytesSent)} echoed before the stop) and {neverReading} never-reading ones took {stopTook.TotalMilliseconds:0} ms");
            Figure(scenario, $"reading clients: server received {Mb(totalReceived)}, sent {Mb(totalSent)}; clients read {Mb(totalRead)}, every byte verified in order; received but not delivered: {undelivered} B; clients saw {endingCounts}; never-reading clients: {cut} B of echo cut by the abort; most read beyond a connection's BytesSent: {uncounted} B");
            Figure(scenario, $"live heap before {Mb(heapBefore)}, at load {Mb(heapPeak)}, after {Mb(heapAfter)}; open sockets {socketsBefore} -> {socketsAfter}; pools outstanding {server.PoolOutstanding}");
            if (graceful)
            {
                Assert.Equal(0, undelivered);
            }

            if (neverReading > 0)
            {
                // The drain waits for the stuck echoes up to the timeout, then aborts them: it never hangs.
                Assert.True(stopTook >= TimeSpan.FromMilliseconds(shutdownTimeoutMs * 0.9), $"the stop took {stopTook}, less than the ShutdownTimeout");
                Assert.True(stopTook < TimeSpan.FromMilliseconds(shutdownTimeoutMs) + TimeSpan.FromSeconds(3), $"the stop took {stopTook}");
            }

            Assert.Equal(socketsBefore, socketsAfter);
            guard.AssertNone();
            Figure(scenario, "no exception escaped (UnhandledException, UnobservedTaskException)");
        }
        finally
        {
            foreach (var c in clients.Concat(stuck))
            {
                c?.Dispose();
            }

            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// A connection aborted mid-send (StopAsync's abort; SendTimeout and resets take the same path) reports in
    /// ConnectionClosed.BytesSent only the sends that completed: the engine ignores BytesTransferred of a failed send,
    /// so the part of the cut send that the kernel had already taken is not counted, yet it can still reach a client
    /// that is reading, which then reads more than BytesSent (by up to one buffer). It is a race, so this runs up to
    /// 10 aborts of 50 full-speed connections (before the fix it failed in 4 of 4 runs on the 2-core machine).
    /// </summary>
    [Fact]
    public async Task BytesSent_counts_the_part_of_an_aborted_send_the_kernel_took()
    {
        const int Connections = 50;
        var block = TestHelpers.RandomBytes(1 * MiB, seed: 51);
        for (var round = 0; round < 10; round++)
        {
            var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ShutdownTimeout = TimeSpan.Zero));
            var closed = TrackClosed(server);
            var clients = new Socket[Connections];
            try
            {
                var read = new long[Connections];
                var written = new long[Connections];
                var endings = new ConcurrentDictionary<int, string>();
                for (var i = 0; i < Connections; i++)
                {
                    clients[i] = await TestHelpers.ConnectAsync(server.EndPoint());
                }

                var endPoints = clients.Select(c => c.LocalEndPoint!).ToArray();
                var runs = Enumerable.Range(0, Connections).Select(i => Task.Run(() => StreamUntilServerEndsAsync(clients[i], block, offset: i * 7919, 64 * KiB, read, written, i, endings))).ToArray();
                // Every client must be a served connection before the stop: one still in the backlog is reset
                // without a ConnectionClosed (the accept loop echoes each new connection's first buffers inline).
                await TestHelpers.WaitUntilAsync(() => server.GetStatistics().AcceptedConnections == Connections, "every connection accepted");
                await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent > Connections * 2L * MiB, "full-speed echo");
                await server.StopAsync().WaitAsync(TestHelpers.Timeout);
                await Task.WhenAll(runs).WaitAsync(TestHelpers.Timeout);
                await TestHelpers.WaitUntilAsync(() => closed.Count == Connections, "every close");
                var byClient = closed.ToDictionary(e => e.RemoteEndPoint!);
                for (var i = 0; i < Connections; i++)
                {
                    var sent = byClient[endPoints[i]].BytesSent;
                    Assert.True(read[i] <= sent, $"round {round}, connection {i}: the client read {read[i]} bytes, the server reported {sent} sent");
                }
            }
            finally
            {
                foreach (var c in clients)
                {
                    c?.Dispose();
                }

                await server.DisposeAsync();
            }
        }
    }

    /// <summary>Waits until the server stops taking data (its received count holds still for 300 ms).</summary>
    private static async Task WaitForStallAsync(EchoServer server)
    {
        var deadline = DateTime.UtcNow + TestHelpers.Timeout;
        var last = -1L;
        while (server.GetStatistics().BytesReceived is var now && now != last)
        {
            Assert.True(DateTime.UtcNow < deadline, "the never-reading clients did not stall");
            last = now;
            await Task.Delay(300);
        }
    }

    /// <summary>
    /// A well-behaved client at full speed: writes its stream while reading and checking the echo, until the server
    /// ends the stream (or resets); then stops writing and closes its side, which ends the server's drain.
    /// </summary>
    private static async Task StreamUntilServerEndsAsync(Socket socket, byte[] block, int offset, int chunk, long[] read, long[] written, int index, ConcurrentDictionary<int, string> endings)
    {
        using var serverEnded = new CancellationTokenSource();
        using var timeout = new CancellationTokenSource(TestHelpers.Timeout);
        var writer = Task.Run(async () =>
        {
            var position = (long)offset;
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(serverEnded.Token, timeout.Token);
                for (var sends = 1; !serverEnded.IsCancellationRequested; sends++)
                {
                    await YieldNowAndThenAsync(sends);
                    var start = (int)(position % block.Length);
                    var count = Math.Min(chunk, block.Length - start);
                    var sent = await socket.SendAsync(block.AsMemory(start, count), SocketFlags.None, linked.Token);
                    position += sent;
                    Interlocked.Add(ref written[index], sent);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The server ended the stream (or aborted): stop writing.
            }

            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // Already reset.
            }
        });

        var buffer = new byte[chunk];
        var expected = (long)offset;
        try
        {
            for (var receives = 1; ; receives++)
            {
                await YieldNowAndThenAsync(receives);
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    endings[index] = "end of stream";
                    break;
                }

                for (var done = 0; done < n;)
                {
                    var start = (int)(expected % block.Length);
                    var count = Math.Min(n - done, block.Length - start);
                    Assert.True(buffer.AsSpan(done, count).SequenceEqual(block.AsSpan(start, count)), $"connection {index}: echo differs at byte {expected - offset}");
                    done += count;
                    expected += count;
                }

                read[index] += n;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            endings[index] = "reset";
        }

        await serverEnded.CancelAsync();
        await writer;
    }

    /// <summary>
    /// With inline socket completions (CI's second pass) these client loops run on the runtime's one epoll thread,
    /// and one that always finds data ready would hold it, stalling every other socket in the process (the server's
    /// included) for as long as it finds data; the engine yields every 32 synchronous completions, so the test
    /// clients do too.
    /// </summary>
    private static async ValueTask YieldNowAndThenAsync(int iteration)
    {
        if (iteration % 32 == 0)
        {
            await Task.Yield();
        }
    }
}
