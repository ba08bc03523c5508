using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>
    /// Slow and fragmented peers on one server, all at once, with a short SendTimeout (1 s) that must not mistake a
    /// slow reader for one that never reads: 4 clients writing and reading one byte per call; 8 clients sending
    /// random-sized bursts with random pauses and reading in random-sized pieces with random pauses (seeded); 4
    /// clients behind a proxy limited to 64 KiB/s each way. Every byte is verified, every connection ends
    /// ClientClosed with everything echoed, and pools and sockets come back to baseline.
    /// </summary>
    [Fact]
    public async Task SlowAndFragmentedPeers_get_every_byte_back()
    {
        const int OneByteClients = 4;
        const int OneByteLength = 4 * KiB;
        const int BurstClients = 8;
        const int BurstLength = 512 * KiB;
        const int ThrottledClients = 4;
        const int ThrottledLength = 128 * KiB;
        const int Rate = 64 * KiB;

        using var guard = new EscapedExceptionGuard();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        var heapBefore = ReliabilityProbe.LiveManagedBytes();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.SendTimeout = TimeSpan.FromSeconds(1)));
        var closed = TrackClosed(server);
        var proxy = new ReliabilityThrottlingProxy(server.EndPoint(), Rate);
        var timings = new ConcurrentDictionary<string, TimeSpan>();
        var verified = 0L;

        async Task Timed(string name, Func<Task<int>> run)
        {
            var watch = Stopwatch.StartNew();
            var bytes = await run();
            timings[name] = watch.Elapsed;
            Interlocked.Add(ref verified, bytes);
        }

        try
        {
            await Task.WhenAll(
                Enumerable.Range(0, OneByteClients).Select(i => Timed($"one-byte {i}", () => OneByteAtATimeAsync(server.EndPoint(), OneByteLength, seed: 200 + i)))
                .Concat(Enumerable.Range(0, BurstClients).Select(i => Timed($"bursts {i}", () => BurstsWithPausesAsync(server.EndPoint(), BurstLength, seed: 300 + i))))
                .Concat(Enumerable.Range(0, ThrottledClients).Select(i => Timed($"throttled {i}", () => ThrottledAsync(proxy.EndPoint, ThrottledLength, seed: 400 + i)))))
                .WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        const int Connections = OneByteClients + BurstClients + ThrottledClients;
        await TestHelpers.WaitUntilAsync(() => closed.Count == Connections, $"{Connections} closes (have {closed.Count})");
        Assert.All(closed, e =>
        {
            Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
            Assert.Equal(e.BytesReceived, e.BytesSent);
        });
        var expected = ((long)OneByteClients * OneByteLength) + ((long)BurstClients * BurstLength) + ((long)ThrottledClients * ThrottledLength);
        Assert.Equal(expected, closed.Sum(e => e.BytesSent));
        Assert.Equal(expected, Interlocked.Read(ref verified));
        await server.AssertPoolsReturnedAsync();
        var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore + 1);
        var heapAfter = ReliabilityProbe.LiveManagedBytes();

        static string Slowest(IEnumerable<KeyValuePair<string, TimeSpan>> t) => $"{t.Max(p => p.Value).TotalSeconds:0.00} s";
        Figure("slow-peers", $"{OneByteClients} clients x {OneByteLength} B written and read one byte per call: {Slowest(timings.Where(p => p.Key.StartsWith("one-byte", StringComparison.Ordinal)))} (slowest)");
        Figure("slow-peers", $"{BurstClients} clients x {BurstLength / KiB} KiB in random bursts (1 B - 64 KiB) with random pauses (0-20 ms), read in random pieces with random pauses: {Slowest(timings.Where(p => p.Key.StartsWith("bursts", StringComparison.Ordinal)))} (slowest)");
        var throttled = timings.Where(p => p.Key.StartsWith("throttled", StringComparison.Ordinal)).ToList();
        Figure("slow-peers", $"{ThrottledClients} clients x {ThrottledLength / KiB} KiB through a {Rate / KiB} KiB/s proxy: {Slowest(throttled)} (slowest), {ThrottledLength / throttled.Max(p => p.Value).TotalSeconds / KiB:0} KiB/s effective; none hit the 1 s SendTimeout");
        Figure("slow-peers", $"{Mb(verified)} verified, 0 lost; close reasons all ClientClosed; open sockets {socketsBefore} -> {socketsAfter} (+1 listener); live heap {Mb(heapBefore)} -> {Mb(heapAfter)}; pools outstanding {server.PoolOutstanding}");
        Assert.Equal(socketsBefore + 1, socketsAfter);
        Assert.True(throttled.Min(p => p.Value) >= TimeSpan.FromSeconds(ThrottledLength / (double)Rate * 0.8), "the proxy did not throttle");
        guard.AssertNone();
    }

    /// <summary>A writer sending one byte per call and a reader receiving into a one-byte buffer, at once.</summary>
    private static async Task<int> OneByteAtATimeAsync(IPEndPoint server, int length, int seed)
    {
        var payload = TestHelpers.RandomBytes(length, seed);
        using var socket = await TestHelpers.ConnectAsync(server);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < payload.Length; i++)
            {
                await socket.SendAsync(payload.AsMemory(i, 1), SocketFlags.None, cts.Token);
            }
        });
        var echoed = new byte[length];
        for (var i = 0; i < length; i++)
        {
            if (await socket.ReceiveAsync(echoed.AsMemory(i, 1), SocketFlags.None, cts.Token) != 1)
            {
                throw new EndOfStreamException($"end of stream after {i} of {length} bytes");
            }
        }

        await writer;
        Assert.True(echoed.AsSpan().SequenceEqual(payload), "one-byte echo differs");
        socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReliabilityClients.ReceiveUntilEndOfStreamAsync(socket));
        return length;
    }

    /// <summary>Bursts of 1 B … 64 KiB with 0–20 ms pauses; reads of 1 B … 16 KiB with 0–20 ms pauses every few reads.</summary>
    private static async Task<int> BurstsWithPausesAsync(IPEndPoint server, int length, int seed)
    {
        var payload = TestHelpers.RandomBytes(length, seed);
        using var socket = await TestHelpers.ConnectAsync(server);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var writer = Task.Run(async () =>
        {
            var random = new Random(seed);
            for (var offset = 0; offset < length;)
            {
                var burst = Math.Min(length - offset, random.Next(1, 64 * KiB));
                await socket.SendAllAsync(payload.AsMemory(offset, burst));
                offset += burst;
                await Task.Delay(random.Next(0, 21), cts.Token);
            }

            socket.Shutdown(SocketShutdown.Send);
        });
        var echoed = new byte[length];
        var readRandom = new Random(seed + 1);
        var received = 0;
        while (true)
        {
            var piece = Math.Min(readRandom.Next(1, 16 * KiB), Math.Max(1, length - received));
            var into = received < length ? echoed.AsMemory(received, piece) : new byte[1].AsMemory();
            var read = await socket.ReceiveAsync(into, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                break;
            }

            Assert.True(received + read <= length, "more echoed than sent");
            received += read;
            if (readRandom.Next(4) == 0)
            {
                await Task.Delay(readRandom.Next(0, 21), cts.Token);
            }
        }

        await writer;
        Assert.Equal(length, received);
        Assert.True(echoed.AsSpan().SequenceEqual(payload), "burst echo differs");
        return length;
    }

    /// <summary>Through the throttling proxy: write everything, half-close, read to the end; the proxy sets the pace.</summary>
    private static async Task<int> ThrottledAsync(IPEndPoint proxy, int length, int seed)
    {
        var payload = TestHelpers.RandomBytes(length, seed);
        using var socket = await TestHelpers.ConnectAsync(proxy);
        var reader = ReliabilityClients.ReceiveUntilEndOfStreamAsync(socket);
        await socket.SendAllAsync(payload);
        socket.Shutdown(SocketShutdown.Send);
        var echoed = await reader;
        Assert.Equal(length, echoed.Length);
        Assert.True(echoed.AsSpan().SequenceEqual(payload), "throttled echo differs");
        return length;
    }
}
