using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using EchoKit.Internal;
using Xunit.Abstractions;

namespace EchoKit.Tests;

/// <summary>
/// The UDP fault rules over real sockets on loopback (drop, duplicate, reorder, latency, corrupt, on=, runtime
/// changes, stop), and their decision function and source table on their own. Every wait is bounded; timings are
/// asserted only as lower bounds the server guarantees and generous upper bounds.
/// </summary>
public class UdpFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Drop_with_toxicity_1_echoes_nothing_and_counts_each_datagram_as_fault_dropped()
    {
        var drops = 0L;
        var port = 0;
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "EchoKit" && instrument.Name == "echokit.faults.applied")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            // Other test classes run servers at the same time; count this one's only.
            var ours = false;
            var drop = false;
            foreach (var tag in tags)
            {
                ours |= tag.Key == "server.port" && (int)tag.Value! == Volatile.Read(ref port);
                drop |= tag.Key == "fault.type" && (string)tag.Value! == "drop";
            }

            if (ours && drop)
            {
                Interlocked.Add(ref drops, value);
            }
        });
        meters.Start();

        await using var server = await StartAsync(seed: 1, "drop");
        Volatile.Write(ref port, server.UdpEndPoint().Port);
        using var client = UdpTestHelpers.Client();
        for (var i = 0; i < 20; i++)
        {
            await client.SendToAsync(new byte[] { (byte)i }, SocketFlags.None, server.UdpEndPoint());
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsReceived == 20, "20 datagrams received");
        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));

        // A slot counts a receive before its outcome: wait for the outcome rather than sample it once.
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsFaultDropped == 20, "20 fault drops");
        var stats = server.GetStatistics();
        Assert.Equal((0L, 20L, 20L, 0L), (stats.DatagramsEchoed, stats.DatagramsFaultDropped, stats.DatagramsDropped, stats.BytesSent));
        await TestHelpers.WaitUntilAsync(() => Interlocked.Read(ref drops) == 20, "20 drops in echokit.faults.applied");
    }

    [Fact]
    public async Task Drop_half_over_2000_datagrams_drops_about_half_and_the_same_ones_for_the_same_seed()
    {
        const int Count = 2000;
        var first = await EchoedIndicesAsync(seed: 42, Count);
        var second = await EchoedIndicesAsync(seed: 42, Count);
        var other = await EchoedIndicesAsync(seed: 43, Count);

        var dropped = Count - first.Count(e => e);
        output.WriteLine($"FIGURE udp drop:toxicity=0.5: {dropped} of {Count} dropped ({100.0 * dropped / Count:F1} %), seed 42; same seed, same drops: {first.SequenceEqual(second)}");
        Assert.InRange(dropped, Count * 40 / 100, Count * 60 / 100);
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);

        // What the network showed is what the decision function says for the client, the first source seen.
        var rules = new[] { EchoFault.Parse("drop:toxicity=0.5") };
        for (var i = 0; i < Count; i++)
        {
            Assert.Equal(!UdpFaultPath.Decide(rules, [0], seed: 42, source: 1, datagram: i + 1).Drop, first[i]);
        }
    }

    [Fact]
    public async Task Duplicate_echoes_each_datagram_twice_byte_exact_and_counts_it_echoed_once()
    {
        await using var server = await StartAsync(seed: 1, "duplicate");
        using var client = UdpTestHelpers.Client();
        long bytes = 0;
        for (var i = 0; i < 50; i++)
        {
            var payload = TestHelpers.RandomBytes(1 + (i * 37 % 1400), seed: i);
            bytes += payload.Length;
            Assert.Equal(payload, await client.EchoDatagramAsync(server.UdpEndPoint(), payload));
            Assert.Equal(payload, await client.ReceiveDatagramAsync(TestHelpers.Timeout));
        }

        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == 50, "50 datagrams echoed");
        var stats = server.GetStatistics();
        Assert.Equal((50L, 0L, bytes, 2 * bytes), (stats.DatagramsReceived, stats.DatagramsDropped, stats.BytesReceived, stats.BytesSent));
    }

    [Fact]
    public async Task Reorder_echoes_the_held_datagram_after_the_next_one_from_its_source()
    {
        await using var server = await StartAsync(seed: 1, "reorder:hold=10s");
        using var client = UdpTestHelpers.Client();
        for (var pair = 0; pair < 10; pair++)
        {
            byte[] a = [(byte)pair, (byte)'A'], b = [(byte)pair, (byte)'B'];
            await client.SendToAsync(a, SocketFlags.None, server.UdpEndPoint());
            await client.SendToAsync(b, SocketFlags.None, server.UdpEndPoint());
            Assert.Equal(b, await client.ReceiveDatagramAsync(TestHelpers.Timeout));
            Assert.Equal(a, await client.ReceiveDatagramAsync(TestHelpers.Timeout));
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == 20, "20 datagrams echoed");
        output.WriteLine("FIGURE udp reorder: 10 of 10 pairs sent A, B came back B, A");
    }

    [Fact]
    public async Task Reorder_echoes_a_lone_datagram_when_its_hold_expires()
    {
        await using var server = await StartAsync(seed: 1, "reorder:hold=300ms");
        using var client = UdpTestHelpers.Client();
        var started = Stopwatch.GetTimestamp();
        Assert.Equal([7], await client.EchoDatagramAsync(server.UdpEndPoint(), [7]));
        var elapsed = Stopwatch.GetElapsedTime(started);
        output.WriteLine($"FIGURE udp reorder lone datagram, hold 300 ms: echoed after {elapsed.TotalMilliseconds:F0} ms");
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Latency_delays_each_echo_by_at_least_the_delay()
    {
        const int Count = 200;
        await using var server = await StartAsync(seed: 1, o => o.Udp.DatagramsInFlight = 64, "latency:delay=100ms");
        using var client = UdpTestHelpers.Client();
        await using var received = new Collector(client);
        var sent = new long[Count];
        for (var i = 0; i < Count; i++)
        {
            sent[i] = Stopwatch.GetTimestamp();
            await client.SendToAsync(Index(i, 16), SocketFlags.None, server.UdpEndPoint());
            await Task.Delay(5);
        }

        await TestHelpers.WaitUntilAsync(() => received.Count == Count, $"{Count} echoes ({received.Count} so far)");
        var latencies = received.Snapshot().Select(r => Stopwatch.GetElapsedTime(sent[BinaryPrimitives.ReadInt32LittleEndian(r.Data)], r.At).TotalMilliseconds).Order().ToArray();
        output.WriteLine($"FIGURE udp latency:delay=100ms over {Count} datagrams: min {latencies[0]:F1} ms, p50 {latencies[Count / 2]:F1} ms, p99 {latencies[Count * 99 / 100]:F1} ms, max {latencies[^1]:F1} ms");
        output.WriteLine("slowest: " + string.Join(", ", received.Snapshot().Select(r => (I: BinaryPrimitives.ReadInt32LittleEndian(r.Data), Ms: Stopwatch.GetElapsedTime(sent[BinaryPrimitives.ReadInt32LittleEndian(r.Data)], r.At).TotalMilliseconds)).OrderByDescending(x => x.Ms).Take(8).Select(x => $"#{x.I} {x.Ms:F0}")));
        Assert.True(latencies[0] >= 100, $"an echo came back after {latencies[0]:F1} ms, before the 100 ms delay");
        // Loose on purpose: a loaded machine delays timers; what this guards against is echoes serialized behind one another (200 x 100 ms).
        Assert.True(latencies[Count / 2] < 5000, $"p50 {latencies[Count / 2]:F1} ms");
    }

    [Fact]
    public async Task Latency_with_every_slot_holding_a_datagram_pauses_receiving_and_loses_nothing()
    {
        // Two slots: two datagrams are held at a time, the rest wait in the kernel's receive buffer.
        await using var server = await StartAsync(seed: 1, o => o.Udp.DatagramsInFlight = 2, "latency:delay=200ms");
        using var client = UdpTestHelpers.Client();
        await using var received = new Collector(client);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < 6; i++)
        {
            await client.SendToAsync(Index(i, 8), SocketFlags.None, server.UdpEndPoint());
        }

        await TestHelpers.WaitUntilAsync(() => received.Count == 6, $"6 echoes ({received.Count} so far)");
        var times = received.Snapshot().Select(r => Stopwatch.GetElapsedTime(started, r.At).TotalMilliseconds).Order().ToArray();
        output.WriteLine($"FIGURE udp latency 200 ms with 2 slots, 6 datagrams: echoes after {string.Join(", ", times.Select(t => $"{t:F0}"))} ms");
        Assert.True(times[0] >= 200, $"first echo after {times[0]:F0} ms");

        // Three rounds of two: the last two could only be received once two others had been held for 200 ms each.
        Assert.True(times[^1] >= 600, $"last echo after {times[^1]:F0} ms");
        Assert.True(times[^1] < 10_000, $"last echo after {times[^1]:F0} ms");
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == 6, "6 datagrams echoed");
    }

    [Theory]
    [InlineData("latency:delay=30s")]
    [InlineData("reorder:hold=30s")]
    public async Task Stop_drops_held_datagrams_instead_of_waiting_for_them(string rule)
    {
        var server = await StartAsync(seed: 1, o => o.ShutdownTimeout = TimeSpan.FromSeconds(1), rule);
        await using (server)
        {
            var clients = Enumerable.Range(0, 3).Select(_ => UdpTestHelpers.Client()).ToArray();
            foreach (var client in clients)
            {
                await client.SendToAsync(new byte[] { 1 }, SocketFlags.None, server.UdpEndPoint());
            }

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsReceived == 3, "3 datagrams received");
            var started = Stopwatch.GetTimestamp();
            await server.StopAsync().WaitAsync(TestHelpers.Timeout);
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.True(elapsed < TimeSpan.FromSeconds(5), $"StopAsync took {elapsed.TotalMilliseconds:F0} ms");
            var stats = server.GetStatistics();
            Assert.Equal((3L, 0L, 3L), (stats.DatagramsReceived, stats.DatagramsEchoed, stats.DatagramsFaultDropped));
            foreach (var client in clients)
            {
                Assert.Null(await client.ReceiveDatagramAsync(TimeSpan.FromMilliseconds(100)));
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Corrupt_flips_about_one_bit_per_every_bytes_at_the_same_positions_for_the_same_seed()
    {
        var first = await CorruptedBitsAsync(seed: 5);
        var second = await CorruptedBitsAsync(seed: 5);
        var other = await CorruptedBitsAsync(seed: 6);
        output.WriteLine($"FIGURE udp corrupt:every=64 over 64 KiB: {first.Count} bits flipped (expected about 1024), same seed same positions: {first.SequenceEqual(second)}");
        Assert.InRange(first.Count, 1024 * 70 / 100, 1024 * 130 / 100);
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task A_rule_on_another_endpoint_or_transport_leaves_this_one_clean()
    {
        var options = UdpTestHelpers.UdpOptions(o =>
        {
            o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Udp.PerSourceRateLimit = null;
            o.FaultSeed = 1;
        });
        await using var server = await TestHelpers.StartAsync(options);
        var clean = server.UdpEndPoint(0);
        var faulted = server.UdpEndPoint(1);
        server.Faults.Replace([EchoFault.Drop().WithTarget(faulted), EchoFault.Parse("corrupt:every=1,on=udp")]);

        using var client = UdpTestHelpers.Client();
        var payload = TestHelpers.RandomBytes(100, seed: 3);
        var echoed = await client.EchoDatagramAsync(clean, payload);
        Assert.All(payload.Zip(echoed), p => Assert.Equal(1, BitOperations.PopCount((uint)(p.First ^ p.Second))));
        await client.SendToAsync(payload, SocketFlags.None, faulted);
        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));

        using var tcp = await TestHelpers.ConnectAsync((IPEndPoint)server.Listeners.First(l => l.Transport == EchoTransport.Tcp).EndPoint);
        Assert.Equal(payload, await tcp.EchoAsync(payload));
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics(EchoTransport.Udp) is { DatagramsEchoed: 1, DatagramsFaultDropped: 1 }, "one echoed, one dropped");
        var udp = server.GetStatistics(EchoTransport.Udp);
        Assert.Equal((2L, 1L, 1L), (udp.DatagramsReceived, udp.DatagramsEchoed, udp.DatagramsFaultDropped));
    }

    [Fact]
    public async Task Rules_changed_at_runtime_apply_from_the_next_datagram()
    {
        await using var server = await StartAsync(seed: 1);
        using var client = UdpTestHelpers.Client();
        var endPoint = server.UdpEndPoint();
        Assert.Equal([1], await client.EchoDatagramAsync(endPoint, [1]));

        server.Faults.Replace([EchoFault.Drop()]);
        await client.SendToAsync(new byte[] { 2 }, SocketFlags.None, endPoint);
        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));

        server.Faults.Clear();
        Assert.Equal([3], await client.EchoDatagramAsync(endPoint, [3]));

        server.Faults.Add(EchoFault.Duplicate());
        Assert.Equal([4], await client.EchoDatagramAsync(endPoint, [4]));
        Assert.Equal([4], await client.ReceiveDatagramAsync(TestHelpers.Timeout));

        // A datagram held back for the next one goes at once when the rules are cleared and the next one arrives.
        server.Faults.Replace([EchoFault.Reorder(TimeSpan.FromSeconds(20))]);
        await client.SendToAsync(new byte[] { 5 }, SocketFlags.None, endPoint);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsReceived == 5, "the held datagram received");
        server.Faults.Clear();
        await client.SendToAsync(new byte[] { 6 }, SocketFlags.None, endPoint);
        var both = new[] { await client.ReceiveDatagramAsync(TimeSpan.FromSeconds(10)), await client.ReceiveDatagramAsync(TimeSpan.FromSeconds(10)) };
        Assert.Equal(new byte[] { 5, 6 }, both.Select(d => Assert.Single(d!)).Order().ToArray());
        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == 5, "5 datagrams echoed");
        var stats = server.GetStatistics();
        Assert.Equal((6L, 5L, 1L), (stats.DatagramsReceived, stats.DatagramsEchoed, stats.DatagramsFaultDropped));
    }

    [Fact]
    public void Decisions_of_drop_with_toxicity_a_tenth_drop_a_tenth_of_100000_datagrams_for_each_seed()
    {
        var rules = new[] { EchoFault.Parse("drop:toxicity=0.1") };
        for (var seed = 1; seed <= 5; seed++)
        {
            var dropped = 0;
            for (var d = 1; d <= 100_000; d++)
            {
                dropped += UdpFaultPath.Decide(rules, [0], seed, source: 1 + (d % 7), datagram: d).Drop ? 1 : 0;
            }

            output.WriteLine($"FIGURE udp drop:toxicity=0.1 decisions, seed {seed}: {dropped} of 100000 dropped ({dropped / 1000.0:F2} %)");
            Assert.InRange(dropped, 9_000, 11_000);
        }
    }

    [Fact]
    public void Decisions_depend_on_the_rule_index_source_and_datagram_only()
    {
        var one = new[] { EchoFault.Parse("duplicate:toxicity=0.5") };
        var two = new[] { EchoFault.Parse("duplicate:toxicity=0.5"), EchoFault.Parse("latency:delay=10ms,jitter=5ms") };
        for (var d = 1; d <= 1000; d++)
        {
            var a = UdpFaultPath.Decide(one, [0], 9, 3, d);
            var b = UdpFaultPath.Decide(two, [0, 1], 9, 3, d);
            Assert.Equal(a.Copies, b.Copies);
            Assert.Equal(a.Key, b.Key);
            Assert.InRange(b.Delay, (long)(Stopwatch.Frequency * 0.005), (long)Math.Ceiling(Stopwatch.Frequency * 0.015) + 1);
            Assert.Equal(b.Delay, UdpFaultPath.Decide(two, [0, 1], 9, 3, d).Delay);
        }

        Assert.NotEqual(UdpFaultPath.Decide(one, [0], 9, 3, 1).Key, UdpFaultPath.Decide(one, [0], 9, 4, 1).Key);
        Assert.NotEqual(UdpFaultPath.Decide(one, [0], 9, 3, 1).Key, UdpFaultPath.Decide(one, [0], 10, 3, 1).Key);
    }

    [Fact]
    public void The_source_table_forgets_the_source_seen_least_recently_when_full()
    {
        var table = new UdpFaultSources(capacity: 2);
        var a = new UdpSourceKey(0, 1);
        var b = new UdpSourceKey(0, 2);
        Assert.Equal((1L, 1L), See(a, 1000));
        Assert.Equal((2L, 1L), See(b, 1000));
        Assert.Equal((1L, 2L), See(a, 1000));
        Assert.Equal((3L, 1L), See(a, 1001)); // another port is another source; b, seen least recently, is forgotten
        Assert.Equal((4L, 1L), See(b, 1000)); // b is new again; a:1000 is forgotten
        Assert.Equal((3L, 2L), See(a, 1001));
        Assert.Equal((5L, 1L), See(a, 1000));

        // Against a model of the same policy, with many sources through a small table (every removal from the index).
        var big = new UdpFaultSources(capacity: 64);
        var model = new LinkedList<(int Source, long Ordinal, long Count)>();
        var random = new Random(12);
        long next = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var s = random.Next(100);
            var at = big.See(new UdpSourceKey((ulong)s * 7919, (ulong)s), s, out var ordinal, out var count);
            Assert.InRange(at, 0, 63);
            var node = model.First;
            while (node is not null && node.Value.Source != s)
            {
                node = node.Next;
            }

            if (node is null)
            {
                if (model.Count == 64)
                {
                    model.RemoveLast();
                }

                model.AddFirst((s, ++next, 1));
            }
            else
            {
                model.Remove(node);
                model.AddFirst((s, node.Value.Ordinal, node.Value.Count + 1));
            }

            Assert.Equal((model.First!.Value.Ordinal, model.First.Value.Count), (ordinal, count));
        }

        (long, long) See(UdpSourceKey key, int port)
        {
            table.See(key, port, out var source, out var datagram);
            return (source, datagram);
        }
    }

    private static byte[] Index(int i, int size)
    {
        var payload = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(payload, i);
        return payload;
    }

    private static Task<EchoServer> StartAsync(int seed, params string[] rules) => StartAsync(seed, null, rules);

    private static Task<EchoServer> StartAsync(int seed, Action<EchoServerOptions>? configure, params string[] rules) =>
        TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o =>
        {
            // Fault tests send faster than the default per-source limit allows.
            o.Udp.PerSourceRateLimit = null;
            o.FaultSeed = seed;
            foreach (var rule in rules)
            {
                o.Faults.Add(EchoFault.Parse(rule));
            }

            configure?.Invoke(o);
        }));

    /// <summary>Sends <paramref name="count"/> numbered datagrams through <c>drop:toxicity=0.5</c>, in windows the server has taken before the next; returns which came back.</summary>
    private static async Task<bool[]> EchoedIndicesAsync(int seed, int count)
    {
        await using var server = await StartAsync(seed, "drop:toxicity=0.5");
        using var client = UdpTestHelpers.Client();
        await using var received = new Collector(client);
        for (var sent = 0; sent < count;)
        {
            for (var i = 0; i < 50 && sent < count; i++, sent++)
            {
                await client.SendToAsync(Index(sent, 8), SocketFlags.None, server.UdpEndPoint());
            }

            // Each window is handled, and its echoes read, before the next: no kernel buffer overflows on either side.
            await TestHelpers.WaitUntilAsync(
                () => server.GetStatistics() is var s && s.DatagramsEchoed + s.DatagramsFaultDropped == sent && received.Count == s.DatagramsEchoed,
                $"window up to {sent} handled");
        }

        var echoed = new bool[count];
        foreach (var (data, _) in received.Snapshot())
        {
            echoed[BinaryPrimitives.ReadInt32LittleEndian(data)] = true;
        }

        return echoed;
    }

    /// <summary>Echoes 64 datagrams of 1 KiB through <c>corrupt:every=64</c>; returns the flipped bits as (datagram, byte, bit), checking each byte has at most one.</summary>
    private static async Task<List<(int Datagram, int Byte, int Bit)>> CorruptedBitsAsync(int seed)
    {
        await using var server = await StartAsync(seed, "corrupt:every=64");
        using var client = UdpTestHelpers.Client();
        var flipped = new List<(int, int, int)>();
        for (var d = 0; d < 64; d++)
        {
            var payload = TestHelpers.RandomBytes(1024, seed: d);
            var echoed = await client.EchoDatagramAsync(server.UdpEndPoint(), payload);
            Assert.Equal(payload.Length, echoed.Length);
            for (var i = 0; i < payload.Length; i++)
            {
                var diff = payload[i] ^ echoed[i];
                if (diff != 0)
                {
                    Assert.Equal(1, BitOperations.PopCount((uint)diff));
                    flipped.Add((d, i, BitOperations.Log2((uint)diff)));
                }
            }
        }

        return flipped;
    }

    /// <summary>Reads every datagram a socket receives, with the time it arrived, until disposed.</summary>
    private sealed class Collector : IAsyncDisposable
    {
        private readonly ConcurrentQueue<(byte[] Data, long At)> _received = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public Collector(Socket socket) => _loop = Task.Run(() => ReceiveAsync(socket));

        public int Count => _received.Count;

        public (byte[] Data, long At)[] Snapshot() => [.. _received];

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop.WaitAsync(TestHelpers.Timeout);
            _stop.Dispose();
        }

        private async Task ReceiveAsync(Socket socket)
        {
            var buffer = new byte[70_000];
            try
            {
                while (true)
                {
                    var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                    _received.Enqueue((buffer.AsSpan(0, result.ReceivedBytes).ToArray(), Stopwatch.GetTimestamp()));
                }
            }
            catch (OperationCanceledException)
            {
                // Disposed.
            }
        }
    }
}

/// <summary>Zero allocation per datagram with drop, duplicate and reorder rules; in the allocation tests' collection, which measures the whole process.</summary>
[Collection(nameof(AllocationTests))]
public class UdpFaultAllocationTests(ITestOutputHelper output)
{
    private const int Clients = 2;
    private const int RoundsPerClient = 4_000;

    [Fact]
    public async Task Udp_echo_with_drop_duplicate_and_reorder_rules_allocates_nothing_per_datagram()
    {
        // Sends the marker that tells when the drop endpoint has taken in everything the clients sent (see below).
        using var marker = UdpTestHelpers.Client();
        var options = UdpTestHelpers.UdpOptions(o =>
        {
            o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Udp.PerSourceRateLimit = null;
            o.Udp.BlockedSourcePorts.Add(((IPEndPoint)marker.LocalEndPoint!).Port);
            o.FaultSeed = 3;
        });
        await using var server = await TestHelpers.StartAsync(options);
        server.Faults.Replace(
        [
            EchoFault.Duplicate().WithTarget(server.UdpEndPoint(0)),
            EchoFault.Drop().WithTarget(server.UdpEndPoint(1)),
            EchoFault.Reorder(TimeSpan.FromSeconds(20)).WithTarget(server.UdpEndPoint(2)),
        ]);
        var clients = new Socket[Clients][];
        for (var i = 0; i < Clients; i++)
        {
            // Connected, blocking and only ever used synchronously: the client side allocates nothing per datagram.
            clients[i] = new Socket[3];
            for (var l = 0; l < 3; l++)
            {
                clients[i][l] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 10_000 };
                clients[i][l].Connect(server.UdpEndPoint(l));
            }
        }

        // Warm up: JIT, tiering, every slot, the fault tables and the reorder timer.
        RunClients(clients, 500);
        var allocated = long.MaxValue;
        for (var run = 0; run < 2; run++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            RunClients(clients, RoundsPerClient);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        // Each round: one datagram dropped, one echoed twice, two swapped.
        var datagrams = Clients * RoundsPerClient * 4;
        output.WriteLine($"FIGURE udp allocation with drop, duplicate, reorder: {allocated} bytes for {datagrams} datagrams ({(double)allocated / datagrams:F3} B/datagram)");
        Assert.True(allocated < 48 * 1024, $"{allocated} bytes allocated for {datagrams} datagrams ({(double)allocated / datagrams:F2} B/datagram); expected a small constant.");

        // Every datagram sent to the duplicate and reorder endpoints was received and echoed: its client saw the echo.
        // Those sent to the drop endpoint are never answered, so nothing paces them: under load the server's receive
        // loop can fall behind, that socket's receive queue fill up and the kernel discard datagrams before the server
        // sees them (UDP; in failed runs its drops in /proc/net/udp were exactly the missing ones, 9 to 635 of 17,000).
        // So the test does not expect all of them to arrive. It requires what it can know: every datagram the server
        // received on the drop endpoint dropped by the rule, nothing dropped for another reason and, on Linux, the
        // kernel's count of discarded datagrams making up the rest. To know when that endpoint has taken in all the
        // clients sent, a marker follows them from a blocked source port: counted (blocked) after everything queued
        // before it, with no rule and no answer. It is sent again while none is counted: the kernel may discard it too.
        var sentToDrop = Clients * (500 + (2L * RoundsPerClient));
        var echoed = sentToDrop * 3;
        var dropEndPoint = server.UdpEndPoint(1);
        var markers = 0;
        var elapsed = Stopwatch.StartNew();
        var statistics = server.GetStatistics();
        while (!Settled(statistics))
        {
            Assert.True(elapsed.Elapsed < SocketTestHelpers.Timeout, $"timed out waiting for every datagram to be accounted for: {Figures()}");
            if (statistics.DatagramsBlocked == 0 && elapsed.Elapsed >= markers * TimeSpan.FromMilliseconds(500))
            {
                marker.SendTo(new byte[1], dropEndPoint);
                markers++;
            }

            await Task.Delay(10);
            statistics = server.GetStatistics();
        }

        output.WriteLine($"FIGURE udp drop endpoint: {statistics.DatagramsFaultDropped} of {sentToDrop} datagrams dropped by the rule, the others discarded by the kernel; {markers} marker(s)");
        Assert.Equal(statistics.DatagramsFaultDropped + statistics.DatagramsBlocked, statistics.DatagramsDropped);
        Assert.InRange(statistics.DatagramsFaultDropped, 1, sentToDrop);
        Array.ForEach(clients, c => Array.ForEach(c, s => s.Dispose()));

        // Every echo counted, every datagram received on the drop endpoint dropped by the rule (or the marker, blocked)
        // and, on Linux, every one sent there (markers included) either received or discarded by the kernel.
        bool Settled(EchoServerStatistics s) =>
            s.DatagramsBlocked > 0 && s.DatagramsEchoed == echoed && s.DatagramsFaultDropped == s.DatagramsReceived - echoed - s.DatagramsBlocked
            && (!OperatingSystem.IsLinux() || s.DatagramsFaultDropped + s.DatagramsBlocked + KernelDrops(dropEndPoint) == sentToDrop + markers);

        string Figures()
        {
            var s = server.GetStatistics();
            var kernel = OperatingSystem.IsLinux() ? $", discarded by the kernel on the drop endpoint {KernelDrops(dropEndPoint)}" : string.Empty;
            return $"received {s.DatagramsReceived}, echoed {s.DatagramsEchoed} (expected {echoed}), fault-dropped {s.DatagramsFaultDropped}, blocked {s.DatagramsBlocked}, "
                + $"dropped {s.DatagramsDropped}; sent to the drop endpoint {sentToDrop} and {markers} marker(s){kernel}";
        }
    }

    /// <summary>
    /// The datagrams the kernel discarded for the unconnected IPv4 UDP socket bound to <paramref name="endPoint"/>
    /// (its receive queue full): the last column, drops, of its line in /proc/net/udp.
    /// </summary>
    private static long KernelDrops(IPEndPoint endPoint)
    {
        var local = string.Create(CultureInfo.InvariantCulture, $"{BitConverter.ToUInt32(endPoint.Address.GetAddressBytes()):X8}:{endPoint.Port:X4}");
        var fields = File.ReadLines("/proc/net/udp")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Single(f => f[1] == local && f[2] == "00000000:0000");
        return long.Parse(fields[^1], CultureInfo.InvariantCulture);
    }

    private static void RunClients(Socket[][] clients, int rounds)
    {
        TestHelpers.RunOnThreads(
            clients,
            sockets =>
            {
                var (duplicate, drop, reorder) = (sockets[0], sockets[1], sockets[2]);
                var send = new byte[32];
                var receive = new byte[64];
                for (var r = 0; r < rounds; r++)
                {
                    send[0] = (byte)r;
                    drop.Send(send);
                    duplicate.Send(send);
                    Expect(duplicate, receive, (byte)r);
                    Expect(duplicate, receive, (byte)r);
                    send[1] = 1;
                    reorder.Send(send);
                    send[1] = 2;
                    reorder.Send(send);
                    Expect(reorder, receive, (byte)r, 2);
                    Expect(reorder, receive, (byte)r, 1);
                    send[1] = 0;
                }
            },
            "a client failed (a lost datagram times out after 10 s)");

        static void Expect(Socket socket, byte[] receive, byte first, byte second = 0)
        {
            var n = socket.Receive(receive);
            if (n != 32 || receive[0] != first || receive[1] != second)
            {
                throw new InvalidOperationException($"echo mismatch: {n} bytes, [{receive[0]}, {receive[1]}], expected [{first}, {second}]");
            }
        }
    }
}
