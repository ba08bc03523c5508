using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>
    /// 500 clients each send 256 KiB and never read. The server holds at most one receive buffer of echo data per
    /// connection (checked exactly, from the counters and from every close event), the process's live managed heap
    /// stays under that bound plus the connection objects of both ends, five other connections keep echoing, the
    /// send timeout closes all 500, and pools and descriptors come back to their baseline.
    /// </summary>
    [Theory]
    [InlineData(8 * KiB)]
    [InlineData(64 * KiB)] // the default
    public async Task NeverReadingClients_hold_at_most_one_buffer_each_and_are_closed_by_SendTimeout(int bufferSize)
    {
        const int Stuck = 500;
        const int Healthy = 5;
        const int PerClient = 256 * KiB;

        // Allowance per connection for the objects of BOTH ends, which live in this one process: the server's
        // pooled connection (SocketAsyncEventArgs, Socket, SafeSocketHandle, endpoints) and the client's Socket
        // with its async state. Measured at about 1.9 KiB per pair (see docs/RELIABILITY.md); 8 KiB allows margin.
        const int ObjectAllowance = 8 * KiB;
        const long FixedAllowance = 4L * MiB;
        var bound = ((long)Stuck * (bufferSize + ObjectAllowance)) + FixedAllowance;

        var scenario = $"never-reading-{bufferSize / KiB}KiB";
        using var guard = new EscapedExceptionGuard();
        var fdBefore = ReliabilityProbe.OpenDescriptors();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        var heapStart = ReliabilityProbe.LiveManagedBytes();
        var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            o.ReceiveBufferSize = bufferSize;
            o.SendTimeout = TimeSpan.FromSeconds(2);
            o.Backlog = 1024;
        }));
        var closed = TrackClosed(server);
        var payload = TestHelpers.RandomBytes(PerClient, seed: 1);
        var stuck = new Socket[Stuck];
        var senders = new Task[Stuck];
        Socket[] healthy = [];
        try
        {
            // Healthy connections first, and their speed with nobody misbehaving.
            healthy = await Task.WhenAll(Enumerable.Range(0, Healthy).Select(i => ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(2), server.EndPoint())));
            var healthyBefore = await EchoHealthyAsync(healthy, round: 0);

            // "Before" is taken here: each client socket's cached send and receive state keeps a reference to the
            // last buffer it used (here 2 x 1 MiB per healthy client), which is the test's memory, not the server's.
            var heapBefore = ReliabilityProbe.LiveManagedBytes();

            // 500 never-reading clients from 10 source addresses, connected first so their objects can be measured
            // alone. Each has a small receive window and the MSS of a real network (1460): loopback's 64 KiB MSS
            // would let the kernel give the server a send buffer of megabytes, and the echo would never stall.
            for (var i = 0; i < Stuck; i++)
            {
                stuck[i] = await ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(10 + (i % 10)), server.EndPoint(), receiveBufferSize: 4 * KiB, maxSegmentSize: 1460);
            }

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == Stuck + Healthy, "all connections admitted");
            var heapIdle = ReliabilityProbe.LiveManagedBytes();
            for (var i = 0; i < Stuck; i++)
            {
                var socket = stuck[i];
                senders[i] = Task.Run(async () =>
                {
                    try
                    {
                        await socket.SendAllAsync(payload);
                    }
                    catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
                    {
                        // Reset by the server's send timeout while still blocked.
                    }
                });
            }

            // Stalled: the server stopped taking data (every echo is blocked on a client that does not read).
            var stalledAt = Stopwatch.StartNew();
            long lastReceived = -1;
            var peakHeld = 0L;
            var peakHeapSize = 0L;
            while (stalledAt.Elapsed < TestHelpers.Timeout)
            {
                var s = server.GetStatistics();
                peakHeld = Math.Max(peakHeld, s.BytesReceived - s.BytesSent);
                peakHeapSize = Math.Max(peakHeapSize, GC.GetGCMemoryInfo().HeapSizeBytes);
                Assert.True(s.BytesReceived - s.BytesSent <= (long)(Stuck + Healthy) * bufferSize, $"the server holds {s.BytesReceived - s.BytesSent} bytes of echo data");
                if (s.BytesReceived == lastReceived && s.ActiveConnections == Stuck + Healthy)
                {
                    break;
                }

                lastReceived = s.BytesReceived;
                await Task.Delay(150);
            }

            // The peak: every stuck connection is holding its buffer now. Measure before the send timeout fires.
            var heapPeak = ReliabilityProbe.LiveManagedBytes();
            var atPeak = server.GetStatistics();
            var rssPeak = ReliabilityProbe.ResidentBytes();
            var fdPeak = ReliabilityProbe.OpenDescriptors();
            var heldAtPeak = atPeak.BytesReceived - atPeak.BytesSent;
            var healthyDuring = await EchoHealthyAsync(healthy, round: 1);
            var stillStuckAfterHealthy = server.GetStatistics().ActiveConnections - Healthy;

            Figure(scenario, $"{Stuck} clients x {PerClient / KiB} KiB never read; server holds {Mb(heldAtPeak)} of echo data ({heldAtPeak / Math.Max(1, atPeak.ActiveConnections - Healthy)} B per stuck connection, limit {bufferSize}); peak of server-held echo {Mb(peakHeld)}");
            Figure(scenario, $"live managed heap before {Mb(heapBefore)}, with {Stuck} more idle connections {Mb(heapIdle)} ({(heapIdle - heapBefore) / Stuck} B per client+server pair), at peak {Mb(heapPeak)} (delta {Mb(heapPeak - heapBefore)}, bound {Mb(bound)}), GC heap size max {Mb(peakHeapSize)}, RSS at peak {Mb(rssPeak)}, fds {fdBefore} -> {fdPeak}");
            Figure(scenario, $"{Healthy} healthy connections echo 5 x 1 MiB in {healthyBefore.TotalMilliseconds:0} ms alone and {healthyDuring.TotalMilliseconds:0} ms with {atPeak.ActiveConnections - Healthy} stuck ({stillStuckAfterHealthy} still stuck after)");

            Assert.True(atPeak.ActiveConnections - Healthy >= Stuck * 9 / 10, $"only {atPeak.ActiveConnections - Healthy} connections were held at once");
            Assert.True(heldAtPeak <= (long)(atPeak.ActiveConnections - Healthy) * bufferSize, $"server-held echo data {heldAtPeak} exceeds one buffer per connection");
            Assert.True(heapPeak - heapBefore <= bound, $"live managed heap grew by {heapPeak - heapBefore} bytes, more than the bound {bound}");
            Assert.True(healthyDuring < healthyBefore * 10 + TimeSpan.FromSeconds(2), $"healthy echo slowed from {healthyBefore} to {healthyDuring}");

            // The send timeout closes all 500, each holding at most one buffer of unsent echo when it went.
            await TestHelpers.WaitUntilAsync(() => closed.Count == Stuck, $"{Stuck} send timeouts (have {closed.Count})");
            var timeoutTook = stalledAt.Elapsed;
            Assert.All(closed, e =>
            {
                Assert.Equal(ConnectionCloseReason.SendTimeout, e.Reason);
                Assert.InRange(e.BytesReceived - e.BytesSent, 1, bufferSize);
            });
            Assert.Equal(Healthy, server.GetStatistics().ActiveConnections);
            var healthyAfter = await EchoHealthyAsync(healthy, round: 2);
            await Task.WhenAll(senders).WaitAsync(TestHelpers.Timeout);
            var received = closed.Sum(e => e.BytesReceived);
            Figure(scenario, $"all {Stuck} closed with SendTimeout {timeoutTook.TotalSeconds:0.0} s after the stall began; they had sent {Mb(received)} and got {Mb(closed.Sum(e => e.BytesSent))} back; healthy echo after: {healthyAfter.TotalMilliseconds:0} ms");

            foreach (var s in stuck)
            {
                s.Dispose();
            }

            foreach (var h in healthy)
            {
                h.Shutdown(SocketShutdown.Send);
                Assert.Empty(await ReliabilityClients.ReceiveUntilEndOfStreamAsync(h));
                h.Dispose();
            }

            // Drop the test's own references, so "after" measures what the server still holds.
            Array.Clear(stuck);
            Array.Clear(senders);
            closed.Clear();

            await server.AssertPoolsReturnedAsync();
            var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore + 1); // + the listener
            var fdAfter = ReliabilityProbe.OpenDescriptors();
            var heapAfterRunning = ReliabilityProbe.LiveManagedBytes();
            await server.StopAsync();
            var heapAfter = ReliabilityProbe.LiveManagedBytes();
            var socketsAfterStop = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore);
            var fdAfterStop = ReliabilityProbe.OpenDescriptors();
            Figure(scenario, $"after: pools outstanding {server.PoolOutstanding}, open sockets {socketsAfter} (baseline {socketsBefore} + listener), fds {fdAfter} (baseline {fdBefore}), live heap {Mb(heapAfterRunning)} while running (idle buffers pooled), {Mb(heapAfter)} after stop (before start: {Mb(heapStart)}); after stop open sockets {socketsAfterStop}, fds {fdAfterStop}");
            Assert.Equal(socketsBefore + 1, socketsAfter);
            Assert.Equal(socketsBefore, socketsAfterStop);
            Assert.InRange(fdAfterStop, 0, fdBefore + 4); // the runtime may map an assembly it loads on first use
            Assert.True(heapAfter - heapStart < 2 * MiB, $"live heap after stop {heapAfter} vs before the server started {heapStart}");
            guard.AssertNone();
        }
        finally
        {
            foreach (var s in stuck)
            {
                s?.Dispose();
            }

            foreach (var h in healthy)
            {
                h.Dispose();
            }

            await server.DisposeAsync();
        }
    }

    /// <summary>Each healthy connection echoes 1 MiB (distinct per connection and round), verified; returns the wall time.</summary>
    private static async Task<TimeSpan> EchoHealthyAsync(Socket[] healthy, int round)
    {
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(healthy.Select((socket, i) => Task.Run(async () =>
        {
            var payload = TestHelpers.RandomBytes(MiB, seed: 100 + (round * 10) + i);
            var echoed = await ReliabilityClients.EchoConcurrentlyAsync(socket, payload, 32 * KiB);
            Assert.True(echoed.AsSpan().SequenceEqual(payload), $"healthy connection {i} round {round}: echo differs");
        }))).WaitAsync(TestHelpers.Timeout);
        return watch.Elapsed;
    }
}
