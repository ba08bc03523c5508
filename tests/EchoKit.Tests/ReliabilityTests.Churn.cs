using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>Connect/echo/close cycles in the unit suite; the soak program runs the full 100,000 (<c>--churn 100000</c>).</summary>
    private const int ChurnCycles = 100_000;

    /// <summary>
    /// 15,000 connect/echo/close cycles from 8 concurrent workers over 32 source addresses, a third each closed
    /// gracefully, half-closed (shutdown, then read to end of stream) and reset (linger 0). Every echo is verified;
    /// the server's close events account for every connection and every byte; then pool counts, open descriptors
    /// and active connections are back to their baseline.
    /// </summary>
    [Fact]
    public async Task Churn_of_connect_echo_close_cycles_with_mixed_closes_leaves_pools_descriptors_and_counts_at_baseline()
    {
        const int Workers = 8;
        const int Addresses = 32;

        using var guard = new EscapedExceptionGuard();
        var heapStart = ReliabilityProbe.LiveManagedBytes();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.Backlog = 1024));
        var fdBefore = ReliabilityProbe.OpenDescriptors();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        long closedCount = 0, closedReceived = 0, closedSent = 0, unequal = 0, clientClosed = 0, reset = 0, other = 0;
        server.ConnectionClosed += (_, e) =>
        {
            Interlocked.Add(ref closedReceived, e.BytesReceived);
            Interlocked.Add(ref closedSent, e.BytesSent);
            if (e.BytesReceived != e.BytesSent)
            {
                Interlocked.Increment(ref unequal);
            }

            switch (e.Reason)
            {
                case ConnectionCloseReason.ClientClosed:
                    Interlocked.Increment(ref clientClosed);
                    break;
                case ConnectionCloseReason.ConnectionReset:
                    Interlocked.Increment(ref reset);
                    break;
                default:
                    Interlocked.Increment(ref other);
                    break;
            }

            Interlocked.Increment(ref closedCount);
        };

        var next = -1;
        long bytesSent = 0;
        var peakFds = 0;
        var peakHeapSize = 0L;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var watch = Stopwatch.StartNew();
        var sampler = Task.Run(async () =>
        {
            while (Volatile.Read(ref next) < ChurnCycles && DateTime.UtcNow < deadline)
            {
                peakFds = Math.Max(peakFds, ReliabilityProbe.OpenDescriptors());
                peakHeapSize = Math.Max(peakHeapSize, GC.GetGCMemoryInfo().HeapSizeBytes);
                await Task.Delay(100);
            }
        });
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            var payload = new byte[1024];
            var echoed = new byte[1024];
            int cycle;
            while ((cycle = Interlocked.Increment(ref next)) < ChurnCycles)
            {
                Assert.True(DateTime.UtcNow < deadline, $"churn did not finish in time ({cycle} cycles done)");
                var length = 1 + (cycle % payload.Length);
                for (var j = 0; j < length; j++)
                {
                    payload[j] = (byte)((cycle * 31) + j);
                }

                using var socket = await ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(100 + (cycle % Addresses)), server.EndPoint());
                await socket.SendAllAsync(payload.AsMemory(0, length));
                switch (cycle % 3)
                {
                    case 0:
                        // Graceful: read the echo, close.
                        await socket.ReceiveExactlyAsync(echoed.AsMemory(0, length));
                        break;
                    case 1:
                        // Half-close: no more to send, read everything until the server's end of stream.
                        socket.Shutdown(SocketShutdown.Send);
                        var all = await ReliabilityClients.ReceiveUntilEndOfStreamAsync(socket);
                        Assert.Equal(length, all.Length);
                        all.CopyTo(echoed, 0);
                        break;
                    default:
                        // Reset: read the echo, then abort with RST.
                        await socket.ReceiveExactlyAsync(echoed.AsMemory(0, length));
                        socket.LingerState = new LingerOption(true, 0);
                        break;
                }

                Assert.True(echoed.AsSpan(0, length).SequenceEqual(payload.AsSpan(0, length)), $"cycle {cycle}: echo differs");
                Interlocked.Add(ref bytesSent, length);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(90));
        var elapsed = watch.Elapsed;
        await sampler;

        await TestHelpers.WaitUntilAsync(() => Interlocked.Read(ref closedCount) == ChurnCycles, $"{ChurnCycles} close events (have {Interlocked.Read(ref closedCount)})");
        await server.AssertPoolsReturnedAsync();
        var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore);
        var fdAfter = ReliabilityProbe.OpenDescriptors();
        var heapAfter = ReliabilityProbe.LiveManagedBytes();
        var stats = server.GetStatistics();

        Figure("churn", $"{ChurnCycles} connect/echo/close cycles ({Workers} workers, {Addresses} source addresses; graceful, half-close, reset in turn) in {elapsed.TotalSeconds:0.0} s = {ChurnCycles / elapsed.TotalSeconds:0} cycles/s; {Mb(bytesSent)} echoed and verified");
        Figure("churn", $"server closes: {clientClosed} ClientClosed, {reset} ConnectionReset, {other} other; received {closedReceived} B, sent {closedSent} B, {unequal} connections with received != sent");
        Figure("churn", $"accepted {stats.AcceptedConnections}, active {stats.ActiveConnections}, pools outstanding {server.PoolOutstanding}; open sockets before {socketsBefore}, after {socketsAfter}; fds before {fdBefore}, peak {peakFds}, after {fdAfter}; live heap before {Mb(heapStart)}, after {Mb(heapAfter)}; GC heap size peak {Mb(peakHeapSize)}");

        Assert.Equal(ChurnCycles, stats.AcceptedConnections);
        Assert.Equal(0, stats.ActiveConnections);
        Assert.Equal(0, stats.RejectedConnections);
        Assert.Equal(bytesSent, closedReceived);
        Assert.Equal(bytesSent, closedSent);
        Assert.Equal(bytesSent, stats.BytesReceived);
        Assert.Equal(bytesSent, stats.BytesSent);
        Assert.Equal(0, unequal);
        Assert.Equal(0, other);
        Assert.True(clientClosed >= 2 * ChurnCycles / 3, $"only {clientClosed} ClientClosed for {2 * ChurnCycles / 3} graceful and half-closed cycles");
        Assert.Equal(socketsBefore, socketsAfter);
        Assert.InRange(fdAfter, 0, fdBefore + 4); // the runtime may map an assembly it loads on first use
        Assert.True(heapAfter - heapStart < 12 * MiB, $"live heap after {heapAfter} vs before {heapStart}");
        guard.AssertNone();
    }
}
