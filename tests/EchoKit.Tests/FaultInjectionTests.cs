using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// Every fault rule over real sockets on 127.0.0.1 (and Unix sockets), measured from the client: when the echo comes,
/// in what pieces, how many bytes, and whether the connection ends with FIN (a 0-byte read) or RST (a connection
/// reset). Lower time bounds are tight (the server never writes early); upper bounds are loose (the machine is shared).
/// </summary>
public sealed class FaultInjectionTests : IDisposable
{
    private static readonly TimeSpan Loose = TimeSpan.FromSeconds(10);

    private readonly string _directory = Directory.CreateTempSubdirectory("echokit-faults-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Latency_writes_each_echo_no_sooner_than_the_delay_after_it_was_sent()
    {
        await using var server = await StartAsync("latency:delay=200ms");
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        for (var i = 0; i < 3; i++)
        {
            var started = Stopwatch.StartNew();
            var echoed = await client.EchoAsync([(byte)i, 1, 2, 3]);
            Assert.Equal([(byte)i, 1, 2, 3], echoed);
            Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), Loose);
        }

        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Latency_with_jitter_stays_within_delay_plus_or_minus_jitter_and_keeps_order()
    {
        await using var server = await StartAsync("latency:delay=100ms,jitter=60ms");
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        for (var i = 0; i < 5; i++)
        {
            var started = Stopwatch.StartNew();
            await client.EchoAsync([(byte)i]);
            Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(40), Loose);
        }

        // Pipelined: whatever the delays drawn, later bytes never overtake earlier ones.
        var payload = TestHelpers.RandomBytes(64, seed: 3);
        for (var i = 0; i < payload.Length; i += 8)
        {
            await client.SendAllAsync(payload.AsMemory(i, 8));
        }

        var echoed = new byte[payload.Length];
        await client.ReceiveExactlyAsync(echoed);
        Assert.Equal(payload, echoed);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Slice_writes_the_echo_in_pieces_no_larger_than_the_size_with_the_delay_between_them()
    {
        await using var server = await StartAsync("slice:size=1-4,delay=60ms");
        using var client = ConnectBlocking(server.EndPoint());
        var payload = TestHelpers.RandomBytes(32, seed: 5);

        var started = Stopwatch.StartNew();
        client.Send(payload);
        var (data, receives, end, readAt) = await ReadOnThreadAsync(client, payload.Length);

        // At least 8 pieces of at most 4 bytes, 60 ms apart: at least 7 pauses.
        Assert.Equal(payload, data);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(7 * 60), Loose);
        Assert.Equal(Ending.Open, end);
        Assert.True(receives.Max() <= 4, $"a receive of {receives.Max()} bytes; pieces are at most 4 ({string.Join(",", receives)} at {string.Join(",", readAt)} ms)");
        Assert.True(receives.Count >= 8, $"{receives.Count} receives ({string.Join(",", receives)})");
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Slice_and_latency_together_delay_then_slice()
    {
        await using var server = await StartAsync("latency:delay=150ms", "slice:size=2,delay=60ms");
        using var client = ConnectBlocking(server.EndPoint());

        var started = Stopwatch.StartNew();
        client.Send(new byte[8]);
        var (data, receives, _, readAt) = await ReadOnThreadAsync(client, 8);

        Assert.Equal(8, data.Length);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(150 + 3 * 60), Loose);
        Assert.True(receives.Max() <= 2, $"{string.Join(",", receives)} at {string.Join(",", readAt)} ms");
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Limit_echoes_exactly_its_bytes_then_sends_FIN_and_reads_until_the_client_closes()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["limit:bytes=100"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        await client.SendAllAsync(new byte[60]);
        await client.SendAllAsync(new byte[240]);
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Equal(100, data.Length);
        Assert.Equal(Ending.Closed, end);
        Assert.False(closed.Task.IsCompleted, "the server drains until the client closes");
        client.Shutdown(SocketShutdown.Send);
        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.FaultInjected, e.Reason);
        Assert.Equal(100, e.BytesSent);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Limit_with_then_reset_echoes_its_bytes_then_resets()
    {
        await using var server = await StartAsync("limit:bytes=100,then=reset");
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        await client.SendAllAsync(new byte[300]);
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Equal(Ending.Reset, end);
        Assert.True(data.Length <= 100, $"{data.Length} bytes echoed past a limit of 100");
        await WaitForStatisticsAsync(server, s => s.BytesSent == 100, "100 bytes sent");
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Reset_after_resets_the_connection_no_sooner_than_after_accept_and_echoes_until_then()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Long enough that a client starved on a loaded machine still sees its connect and echo complete before the RST
        // (seen once at 400 ms in CI: the connect's completion ran after the reset had arrived).
        await using var server = await StartAsync(["reset:after=1500ms"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        var connected = Stopwatch.StartNew();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        Assert.Equal([1, 2, 3], await client.EchoAsync([1, 2, 3]));
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.Equal(Ending.Reset, end);
        Assert.InRange(connected.Elapsed, TimeSpan.FromMilliseconds(1500), Loose);
        Assert.Equal(ConnectionCloseReason.FaultInjected, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Reset_after_wakes_a_pump_that_latency_holds_and_resets_without_the_held_echo()
    {
        await using var server = await StartAsync("latency:delay=10m", "reset:after=1500ms");
        var connected = Stopwatch.StartNew();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[16]);

        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.Equal(Ending.Reset, end);
        Assert.InRange(connected.Elapsed, TimeSpan.FromMilliseconds(1500), Loose);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Reset_at_once_resets_before_any_echo()
    {
        await using var server = await StartAsync("reset");

        var (data, end) = await ConnectSendAndReadAsync(server.EndPoint(), send: true);

        Assert.Empty(data);
        Assert.Equal(Ending.Reset, end);
        await WaitForStatisticsAsync(server, s => s.AcceptedConnections == 1 && s.BytesSent == 0, "one accepted connection, nothing echoed");
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData("refuse", Ending.Reset)]
    [InlineData("refuse:mode=close", Ending.Closed)]
    public async Task Refuse_closes_each_connection_before_any_byte_and_counts_it_as_rejected(string rule, Ending expected)
    {
        var rejected = new TaskCompletionSource<ConnectionRejectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync([rule], s => s.ConnectionRejected += (_, e) => rejected.TrySetResult(e));

        // Nothing is sent: bytes arriving after the server's FIN would make its kernel answer with RST.
        var (data, end) = await ConnectSendAndReadAsync(server.EndPoint(), send: false);

        Assert.Empty(data);
        Assert.Equal(expected, end);
        Assert.Equal(ConnectionRejectionReason.FaultInjected, (await rejected.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await WaitForStatisticsAsync(server, s => s.RejectedConnections == 1 && s.AcceptedConnections == 0, "one rejected connection");
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Slow_open_echoes_nothing_before_the_delay_then_everything_sent_meanwhile()
    {
        await using var server = await StartAsync("slow-open:delay=300ms");
        var started = Stopwatch.StartNew();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[] { 1, 2, 3 });
        var (data, _, end) = await ReadAsync(client, 3);
        Assert.Equal([1, 2, 3], data);
        Assert.Equal(Ending.Open, end);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Loose);

        // Only the opening waits.
        started.Restart();
        Assert.Equal([4], await client.EchoAsync([4]));
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromMilliseconds(300) + Loose);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Blackhole_reads_everything_and_echoes_nothing()
    {
        await using var server = await StartAsync("blackhole");
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        for (var i = 0; i < 10; i++)
        {
            await client.SendAllAsync(new byte[10_000]);
        }

        await WaitForStatisticsAsync(server, s => s.BytesReceived == 100_000, "all 100,000 bytes read");
        Assert.Equal(0, server.GetStatistics().BytesSent);
        client.Shutdown(SocketShutdown.Send);
        var (data, _, end) = await ReadAsync(client, int.MaxValue);
        Assert.Empty(data);
        Assert.Equal(Ending.Closed, end);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Blackhole_with_close_after_closes_with_FIN_no_sooner_than_that()
    {
        await using var server = await StartAsync("blackhole:close-after=300ms");
        var connected = Stopwatch.StartNew();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[100]);

        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.Equal(Ending.Closed, end);
        Assert.InRange(connected.Elapsed, TimeSpan.FromMilliseconds(300), Loose);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [Fact]
    public async Task Toxicity_picks_the_same_connections_for_the_same_seed_and_others_for_another()
    {
        var first = await FaultedIdsAsync(seed: 7);
        var second = await FaultedIdsAsync(seed: 7);
        var other = await FaultedIdsAsync(seed: 8);

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        Assert.InRange(first.Count, 30, 90); // 0.3 of 200 connections, give or take what a fixed seed happens to draw
    }

    [Fact]
    public async Task On_applies_a_rule_to_its_transport_or_endpoint_only()
    {
        var onePath = Path.Combine(_directory, "one.sock");
        var twoPath = Path.Combine(_directory, "two.sock");
        var faultsById = new ConcurrentDictionary<long, IReadOnlyList<EchoFault>>();
        var options = TestHelpers.LoopbackOptions(o =>
        {
            o.EndPoints.Add(new UnixDomainSocketEndPoint(onePath));
            o.EndPoints.Add(new UnixDomainSocketEndPoint(twoPath));
            o.Faults.Add(EchoFault.Parse("latency:delay=1ms,on=unix"));
            o.Faults.Add(EchoFault.Parse($"limit:bytes=1GiB,on=unix:{twoPath}"));
        });
        await using var server = new EchoServer(options);
        server.ConnectionAccepted += (_, e) => faultsById[e.ConnectionId] = e.Faults;
        await server.StartAsync();

        foreach (var endPoint in server.EndPoints)
        {
            using var client = await SocketTestHelpers.ConnectAsync(endPoint);
            Assert.Equal([9], await client.EchoAsync([9]));
        }

        await TestHelpers.WaitUntilAsync(() => faultsById.Count == 3, "three accepted events");
        Assert.Empty(faultsById[1]);
        Assert.Equal(["latency:delay=1ms,on=unix"], faultsById[2].Select(f => f.ToString()));
        Assert.Equal(["latency:delay=1ms,on=unix", $"limit:bytes=1GiB,on=unix:{twoPath}"], faultsById[3].Select(f => f.ToString()));
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Latency_and_reset_work_on_Unix_sockets()
    {
        var path = Path.Combine(_directory, "latency.sock");
        var options = new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) }, Faults = { EchoFault.Parse("latency:delay=150ms"), EchoFault.Parse("reset:after=2s") } };
        await using var server = await TestHelpers.StartAsync(options);
        var connected = Stopwatch.StartNew();
        using var client = await SocketTestHelpers.ConnectAsync(server.EndPoints[0]);

        var started = Stopwatch.StartNew();
        Assert.Equal([1, 2], await client.EchoAsync([1, 2]));
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(150), Loose);

        // A Unix socket has no RST: the reset is a close (a reset only if unread data was left).
        var (data, _, end) = await ReadAsync(client, int.MaxValue);
        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        Assert.InRange(connected.Elapsed, TimeSpan.FromSeconds(2), Loose);
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData("latency:delay=10m")]
    [InlineData("slice:size=1,delay=10m")]
    [InlineData("blackhole")]
    public async Task Stop_ends_faulted_connections_within_the_shutdown_timeout(string rule)
    {
        await using var server = await StartAsync([rule], configure: null, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[4]);
        await WaitForStatisticsAsync(server, s => s.BytesReceived == 4, "the bytes received");

        var stopping = Stopwatch.StartNew();
        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        Assert.InRange(stopping.Elapsed, TimeSpan.Zero, Loose);
        Assert.Equal(0, server.GetStatistics().ActiveConnections);
        Assert.Equal((0, 0), server.PoolOutstanding);
    }

    [Fact]
    public async Task Idle_timeout_still_ends_a_blackholed_connection()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["blackhole"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e), o => o.IdleTimeout = TimeSpan.FromMilliseconds(300));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[4]);

        Assert.Equal(ConnectionCloseReason.IdleTimeout, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Send_timeout_still_ends_a_sliced_echo_the_client_does_not_read()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["slice:size=16KiB"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e), o => o.SendTimeout = TimeSpan.FromMilliseconds(500));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);

        // Writes until the kernel buffers both ways are full and the server's sliced send stalls; never reads.
        var writing = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                while (!cts.IsCancellationRequested)
                {
                    await client.SendAsync(chunk, SocketFlags.None, cts.Token);
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server closed the connection, or the test is over.
            }
        });

        Assert.Equal(ConnectionCloseReason.SendTimeout, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await cts.CancelAsync();
        client.Dispose();
        await writing.WaitAsync(TestHelpers.Timeout);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task The_faults_applied_metric_counts_each_rule_per_connection_by_type()
    {
        var counts = new ConcurrentDictionary<string, long>();
        var port = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "EchoKit" && instrument.Name == "echokit.faults.applied")
            {
                Assert.Equal("{fault}", instrument.Unit);
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            // Other test classes run servers at the same time; count this one's only.
            string? type = null;
            var ours = false;
            foreach (var tag in tags)
            {
                type = tag.Key == "fault.type" ? (string)tag.Value! : type;
                ours |= tag.Key == "server.port" && (int)tag.Value! == Volatile.Read(ref port);
            }

            if (ours && type is not null)
            {
                counts.AddOrUpdate(type, value, (_, sum) => sum + value);
            }
        });
        listener.Start();

        await using var server = await StartAsync("latency:delay=1ms", "slice:size=4");
        Volatile.Write(ref port, server.EndPoint().Port);
        for (var i = 0; i < 3; i++)
        {
            using var client = await TestHelpers.ConnectAsync(server.EndPoint());
            await client.EchoAsync([1]);
        }

        await TestHelpers.WaitUntilAsync(() => counts.GetValueOrDefault("latency") == 3 && counts.GetValueOrDefault("slice") == 3, "3 latency and 3 slice");
    }

    [Fact]
    public async Task A_seed_chosen_at_start_is_logged_with_the_rules()
    {
        var collector = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)));
        await using (var server = new EchoServer(TestHelpers.LoopbackOptions(o => o.Faults.Add(EchoFault.Parse("latency:delay=1ms"))), factory))
        {
            await server.StartAsync();
        }

        var record = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 7);
        Assert.Equal(LogLevel.Information, record.Level);
        Assert.Contains("latency:delay=1ms", record.Message, StringComparison.Ordinal);
        Assert.Contains("chosen at random", record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_without_faults_gives_connections_none()
    {
        var accepted = new TaskCompletionSource<ConnectionAcceptedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync();
        server.ConnectionAccepted += (_, e) => accepted.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        Assert.Empty((await accepted.Task.WaitAsync(TestHelpers.Timeout)).Faults);
        Assert.Empty(new ConnectionAcceptedEventArgs(1, null, null).Faults);
    }

    /// <summary>The ids of the connections, of 200, that <c>toxicity=0.3</c> picks on a new server with <paramref name="seed"/>.</summary>
    private static async Task<SortedSet<long>> FaultedIdsAsync(int seed)
    {
        var picked = new ConcurrentBag<long>();
        var accepted = 0;
        await using var server = await StartAsync(["latency:delay=0s,toxicity=0.3"], s => s.ConnectionAccepted += (_, e) =>
        {
            if (e.Faults.Count > 0)
            {
                picked.Add(e.ConnectionId);
            }

            Interlocked.Increment(ref accepted);
        }, o => o.FaultSeed = seed);

        for (var i = 0; i < 200; i++)
        {
            using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        }

        await TestHelpers.WaitUntilAsync(() => Volatile.Read(ref accepted) == 200, "200 accepted events");
        return [.. picked];
    }

    /// <summary>
    /// Connects, sends a few bytes (when <paramref name="send"/>) and reads to the end. A reset at once may already fail the connect or the send (the
    /// kernel completed the handshake before the server closed): that is a reset seen by the client too.
    /// </summary>
    private static async Task<(byte[] Data, Ending End)> ConnectSendAndReadAsync(IPEndPoint endPoint, bool send)
    {
        Socket client;
        try
        {
            client = await TestHelpers.ConnectAsync(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return ([], Ending.Reset);
        }

        using (client)
        {
            try
            {
                if (send)
                {
                    await client.SendAllAsync(new byte[10]);
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
            {
                return ([], Ending.Reset);
            }

            var (data, _, end) = await ReadAsync(client, int.MaxValue);
            return (data, end);
        }
    }

    private static Task<EchoServer> StartAsync(params string[] rules) => StartAsync(rules, configure: null);

    internal static async Task<EchoServer> StartAsync(string[] rules, Action<EchoServer>? configure, Action<EchoServerOptions>? options = null)
    {
        var server = new EchoServer(TestHelpers.LoopbackOptions(o =>
        {
            foreach (var rule in rules)
            {
                o.Faults.Add(EchoFault.Parse(rule));
            }

            o.FaultSeed = 1;
            options?.Invoke(o);
        }));
        configure?.Invoke(server);
        await server.StartAsync();
        return server;
    }

    private static Task WaitForStatisticsAsync(EchoServer server, Func<EchoServerStatistics, bool> condition, string what) =>
        TestHelpers.WaitUntilAsync(() => condition(server.GetStatistics()), what);

    private static async Task CloseAndAssertPoolsAsync(EchoServer server, Socket client)
    {
        client.Dispose();
        await server.AssertPoolsReturnedAsync();
    }
}
