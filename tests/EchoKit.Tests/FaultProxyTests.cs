using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// The fault proxy between a real client socket and a real upstream server (an <see cref="EchoServer"/> on loopback,
/// which can itself reset or close): bytes both ways, half-close per direction, resets passed on, an upstream that is
/// not there, and each direction's faults measured from the client. Lower time bounds are tight, upper ones loose.
/// </summary>
public sealed class FaultProxyTests
{
    private static readonly TimeSpan Loose = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Relays_bytes_both_ways_unchanged_and_returns_everything_to_the_pools()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        var payload = TestHelpers.RandomBytes(1 << 20, seed: 17);
        var reading = ReadAsync(client, payload.Length);
        await client.SendAllAsync(payload);
        var (data, _, end) = await reading;
        Assert.Equal(Ending.Open, end);
        Assert.True(payload.AsSpan().SequenceEqual(data), "the bytes came back changed");

        client.Dispose();
        await WaitForPoolsAsync(proxy);
        Assert.Equal(payload.Length, proxy.GetStatistics().BytesReceived);
        Assert.Equal(payload.Length, proxy.GetStatistics().BytesSent);
    }

    [Fact]
    public async Task Half_close_passes_through_each_direction_and_the_reply_after_it_still_arrives()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        // The client sends and shuts down its side; the echo server sees the FIN only through the proxy, echoes
        // everything, then closes: the client reads every byte, then end of stream.
        var payload = TestHelpers.RandomBytes(200_000, seed: 5);
        await client.SendAllAsync(payload);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await client.ReceiveToEndAsync().WaitAsync(TestHelpers.Timeout);
        Assert.True(payload.AsSpan().SequenceEqual(echoed), $"{echoed.Length} of {payload.Length} bytes came back before end of stream");

        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
        Assert.Equal(payload.Length, e.BytesReceived);
        Assert.Equal(payload.Length, e.BytesSent);
        Assert.Same(proxy, await SenderAsync(proxy));
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task An_upstream_that_closes_first_passes_its_FIN_and_the_client_may_still_write()
    {
        // The real server echoes 3 bytes, then closes its side (FIN) and reads until the client closes.
        await using var upstream = await FaultInjectionTests.StartAsync(["limit:bytes=3"], configure: null);
        var upstreamClosed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.ConnectionClosed += (_, e) => upstreamClosed.TrySetResult(e);
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        await client.SendAllAsync(new byte[] { 1, 2, 3, 4, 5 });
        var (data, _, end) = await ReadAsync(client, 5);
        Assert.Equal([1, 2, 3], data);
        Assert.Equal(Ending.Closed, end);

        // Half-closed: the client's side still carries bytes to the server until the client closes it.
        await client.SendAllAsync(new byte[] { 6, 7 });
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(ConnectionCloseReason.FaultInjected, (await upstreamClosed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        client.Dispose();
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task An_upstream_that_resets_resets_the_client()
    {
        // The real server resets its connection half a second after accept.
        await using var upstream = await FaultInjectionTests.StartAsync(["reset:after=300ms"], configure: null);
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        Assert.Equal([1, 2, 3], await client.EchoAsync([1, 2, 3]));
        var (_, _, end) = await ReadAsync(client, 1);
        Assert.Equal(Ending.Reset, end);
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task A_client_that_resets_resets_the_upstream()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var upstreamClosed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.ConnectionClosed += (_, e) => upstreamClosed.TrySetResult(e);
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        Assert.Equal([7], await client.EchoAsync([7]));

        client.LingerState = new LingerOption(true, 0);
        client.Close();

        var e = await upstreamClosed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.ConnectionReset, e.Reason);
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task An_upstream_that_is_not_there_closes_the_client_with_its_own_reason()
    {
        var nobody = FreeLoopbackPort();
        using var meterFactory = new TransportMeterFactory();
        using var durations = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<double>(meterFactory, "EchoKit", "echokit.proxy.connection.duration");
        await using var proxy = await StartProxyAsync(nobody, configure: null, meterFactory: meterFactory);
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        var (data, _, end) = await ReadAsync(client, 1);
        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.UpstreamUnavailable, e.Reason);
        Assert.Equal(SocketError.ConnectionRefused, e.SocketError);
        await WaitForPoolsAsync(proxy);

        // Its own error.type on the proxy's connection duration.
        Assert.Contains(durations.GetMeasurementSnapshot(), m => Equals(m.Tags["error.type"], "upstream_unavailable"));
    }

    [Fact]
    public async Task A_host_name_upstream_is_resolved_per_connection()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(new DnsEndPoint("localhost", upstream.EndPoint().Port, AddressFamily.InterNetwork));
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        Assert.Equal([4, 5, 6], await client.EchoAsync([4, 5, 6]));
        client.Dispose();
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Downstream_latency_delays_the_answer_and_upstream_latency_the_request()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "latency:delay=150ms");
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());

        var started = Stopwatch.StartNew();
        Assert.Equal([1], await client.EchoAsync([1]));
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(150), Loose);

        // Both directions: each adds its delay to the round trip.
        proxy.Faults.Add(EchoFault.Parse("latency:delay=150ms,stream=upstream"));
        await client.EchoAsync([2]); // the change is taken up at the next message of each direction
        started.Restart();
        Assert.Equal([3], await client.EchoAsync([3]));
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Loose);

        // Removed: the client recovers.
        proxy.Faults.Clear();
        await client.EchoAsync([4]);
        started.Restart();
        Assert.Equal([5], await client.EchoAsync([5]));
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromMilliseconds(150) + Loose);
        client.Dispose();
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Upstream_rules_change_what_the_server_receives_and_downstream_rules_what_the_client_receives()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var received = new ConcurrentQueue<long>();
        upstream.ConnectionClosed += (_, e) => received.Enqueue(e.BytesReceived);

        // limit on the upstream stream: the server gets 10 bytes, then FIN; the answer to those 10 still comes back, then end of stream.
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "limit:bytes=10,stream=upstream");
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        await client.SendAllAsync(new byte[64]);
        var (data, _, end) = await ReadAsync(client, 64);
        Assert.Equal(10, data.Length);
        Assert.NotEqual(Ending.Open, end);
        await TestHelpers.WaitUntilAsync(() => !received.IsEmpty, "the upstream connection closed");
        Assert.Equal(10, Assert.Single(received));
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Downstream_limit_cuts_the_reply_after_its_bytes()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "limit:bytes=100");
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        await client.SendAllAsync(new byte[1000]);
        var (data, _, end) = await ReadAsync(client, 1000);
        Assert.Equal(100, data.Length);
        Assert.Equal(Ending.Closed, end);

        // Half-closed by the limit: the client's side stays open until the client closes it, as after any server's FIN.
        client.Dispose();
        Assert.Equal(ConnectionCloseReason.FaultInjected, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Reset_resets_the_client_and_the_upstream()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var upstreamClosed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.ConnectionClosed += (_, e) => upstreamClosed.TrySetResult(e);
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "reset:after=200ms");
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        Assert.Equal([9], await client.EchoAsync([9]));
        var started = Stopwatch.StartNew();
        var (_, _, end) = await ReadAsync(client, 1);
        Assert.Equal(Ending.Reset, end);
        Assert.Equal(ConnectionCloseReason.ConnectionReset, (await upstreamClosed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Refuse_turns_clients_away_before_connecting_upstream()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "refuse");
        var rejected = 0;
        proxy.ConnectionRejected += (_, _) => Interlocked.Increment(ref rejected);
        Ending end;
        try
        {
            using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
            (_, _, end) = await ReadAsync(client, 1);
        }
        catch (SocketException e) when (IsReset(e))
        {
            // On a busy machine the RST can come before the connect's completion is seen.
            end = Ending.Reset;
        }

        Assert.Equal(Ending.Reset, end);
        await TestHelpers.WaitUntilAsync(() => Volatile.Read(ref rejected) == 1, "the rejection event");
        Assert.Equal(0, upstream.GetStatistics().AcceptedConnections);
    }

    [Fact]
    public async Task Stopping_closes_live_connections_on_both_sides()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var proxy = await StartProxyAsync(upstream.EndPoint());
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        Assert.Equal([1], await client.EchoAsync([1]));

        await proxy.StopAsync().WaitAsync(TestHelpers.Timeout);
        var (_, _, end) = await ReadAsync(client, 1);
        Assert.NotEqual(Ending.Open, end);
        await TestHelpers.WaitUntilAsync(() => upstream.GetStatistics().ActiveConnections == 0, "the upstream connection closed");
        Assert.Equal((0, 0), proxy.PoolOutstanding);
    }

    [Fact]
    public async Task Relays_between_unix_sockets()
    {
        var directory = Directory.CreateTempSubdirectory("echokit-proxy-").FullName;
        try
        {
            var upstreamPath = Path.Combine(directory, "upstream.sock");
            await using var upstream = await TestHelpers.StartAsync(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(upstreamPath) } });
            var options = new FaultProxyOptions { Upstream = new UnixDomainSocketEndPoint(upstreamPath) };
            options.EndPoints.Add(new UnixDomainSocketEndPoint(Path.Combine(directory, "proxy.sock")));
            await using var proxy = new FaultProxy(options);
            await proxy.StartAsync();
            using var client = await SocketTestHelpers.ConnectAsync(proxy.EndPoints[0]);
            Assert.Equal([1, 2], await client.EchoAsync([1, 2]));
            client.Dispose();
            await WaitForPoolsAsync(proxy);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_seeded_run_picks_the_same_connections_again()
    {
        await using var upstream = await TestHelpers.StartAsync();
        async Task<string> RunAsync()
        {
            await using var proxy = await StartProxyAsync(upstream.EndPoint(), configure: o => o.FaultSeed = 42, rules: "latency:delay=1ms,toxicity=0.5,stream=upstream");
            var picked = new ConcurrentBag<long>();
            proxy.ConnectionAccepted += (_, e) =>
            {
                if (e.Faults.Count > 0)
                {
                    picked.Add(e.ConnectionId);
                }
            };
            for (var i = 0; i < 20; i++)
            {
                using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
                await client.EchoAsync([1]);
            }

            await WaitForPoolsAsync(proxy);
            return string.Join(",", picked.Order());
        }

        var first = await RunAsync();
        Assert.NotEqual("", first);
        Assert.Equal(first, await RunAsync());
    }

    [Theory]
    [InlineData(null, "FaultProxyOptions.Upstream is required")]
    [InlineData("127.0.0.1:0", "FaultProxyOptions.Upstream must name a port from 1 to 65535")]
    public void Invalid_options_fail_with_the_option_and_its_rule(string? upstream, string message)
    {
        var options = new FaultProxyOptions { Upstream = upstream is null ? null : IPEndPoint.Parse(upstream) };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        var e = Assert.Throws<ArgumentException>(() => new FaultProxy(options));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal("Upstream", e.ParamName);

        options.Upstream = new IPEndPoint(IPAddress.Loopback, 1);
        options.ConnectTimeout = TimeSpan.Zero;
        e = Assert.Throws<ArgumentException>(() => new FaultProxy(options));
        Assert.Contains("FaultProxyOptions.ConnectTimeout must be greater than zero", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_fits_none_of_the_proxys_listeners_is_refused_with_the_reason()
    {
        var options = new FaultProxyOptions { Upstream = new IPEndPoint(IPAddress.Loopback, 1) };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        options.Faults.Add(EchoFault.Parse("drop"));
        var e = Assert.Throws<ArgumentException>(() => new FaultProxy(options));
        Assert.Contains("FaultProxyOptions.Faults rule 'drop' (index 0) fits udp, and the proxy listens on stream only endpoints", e.Message, StringComparison.Ordinal);

        options.Faults.Clear();
        await using var proxy = new FaultProxy(options);
        var change = Assert.Throws<ArgumentException>(() => proxy.Faults.Add(EchoFault.Parse("latency:delay=1ms,on=tls")));
        Assert.Contains("a proxy has no TLS listener", change.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => proxy.Faults.Replace([EchoFault.Parse("latency:delay=1ms"), EchoFault.Parse("duplicate")]));
        Assert.Empty(proxy.Faults.Rules);
    }

    [Fact]
    public async Task The_selector_is_asked_once_per_connection_and_its_rules_act_per_direction()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var asked = 0;
        var accepted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), configure: o => o.FaultSelector = c =>
        {
            Interlocked.Increment(ref asked);
            return c.ConnectionId % 2 == 0 ? [EchoFault.Parse("latency:delay=150ms,stream=upstream"), EchoFault.Parse("latency:delay=150ms")] : null;
        });

        proxy.ConnectionAccepted += (_, e) => accepted.Enqueue(string.Join("; ", e.Faults));
        for (var i = 0; i < 4; i++)
        {
            using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
            var started = Stopwatch.StartNew();
            Assert.Equal([1], await client.EchoAsync([1]));
            if (i % 2 == 1)
            {
                // Connection ids start at 1: the second and fourth are even, and both of their relays are delayed.
                Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Loose);
            }
        }

        await WaitForPoolsAsync(proxy);
        Assert.Equal(4, Volatile.Read(ref asked));

        // The accepted event lists the rules of both directions.
        Assert.Contains("latency:delay=150ms,stream=upstream; latency:delay=150ms", accepted);
    }

    [Fact]
    public async Task A_client_that_never_reads_is_held_back_by_its_own_buffers_and_others_are_served()
    {
        await using var upstream = await TestHelpers.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.EndPoint());
        using var hog = await TestHelpers.ConnectAsync(proxy.EndPoint());

        // The hog writes until its own send stalls (every buffer on the way is full: the proxy holds one per direction).
        var chunk = new byte[64 * 1024];
        long written = 0;
        using (var stall = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            try
            {
                for (var i = 0; i < 4096; i++)
                {
                    written += await hog.SendAsync(chunk, SocketFlags.None, stall.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        Assert.True(written < 1L << 28, $"the hog wrote {written} bytes without ever reading: nothing held it back");

        // Meanwhile another client is served as usual.
        using var other = await TestHelpers.ConnectAsync(proxy.EndPoint());
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal([(byte)i], await other.EchoAsync([(byte)i]).WaitAsync(TestHelpers.Timeout));
        }

        Assert.True(proxy.PoolOutstanding.Buffers <= 4, $"buffers out: {proxy.PoolOutstanding.Buffers}, at most one per direction of each connection");
        hog.LingerState = new LingerOption(true, 0);
        hog.Close();
        other.Dispose();
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task Slow_open_connects_upstream_only_after_the_delay()
    {
        await using var upstream = await TestHelpers.StartAsync();
        var upstreamAccepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.ConnectionAccepted += (_, _) => upstreamAccepted.TrySetResult();
        await using var proxy = await StartProxyAsync(upstream.EndPoint(), "slow-open:delay=400ms");
        var started = Stopwatch.StartNew();
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        await upstreamAccepted.Task.WaitAsync(TestHelpers.Timeout);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(400), Loose);
        Assert.Equal([1], await client.EchoAsync([1]));
        client.Dispose();
        await WaitForPoolsAsync(proxy);
    }

    [Fact]
    public async Task An_upstream_that_never_accepts_times_out_with_the_connect_timeout()
    {
        // A listener that never accepts, its backlog filled: further SYNs go unanswered, so connecting hangs.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(0);
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var attempt = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await filler.ConnectAsync(silent.LocalEndPoint!, attempt.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // the backlog is full
                }
            }

            await using var proxy = await StartProxyAsync((IPEndPoint)silent.LocalEndPoint!, configure: o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300));
            var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            proxy.ConnectionClosed += (_, e) => closed.TrySetResult(e);
            var started = Stopwatch.StartNew();
            using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
            var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
            Assert.Equal(ConnectionCloseReason.UpstreamUnavailable, e.Reason);
            Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Loose);
            var (data, _, end) = await ReadAsync(client, 1);
            Assert.Empty(data);
            Assert.NotEqual(Ending.Open, end);
            await WaitForPoolsAsync(proxy);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void Stream_is_read_and_written_in_the_grammar()
    {
        var rule = EchoFault.Parse("latency:delay=5ms,stream=upstream");
        Assert.Equal(FaultDirection.Upstream, rule.Stream);
        Assert.Equal("latency:delay=5ms,stream=upstream", rule.ToString());
        Assert.Equal(FaultDirection.Downstream, EchoFault.Parse("latency:delay=5ms,stream=downstream").Stream);
        Assert.Equal("latency:delay=5ms", EchoFault.Parse("latency:delay=5ms,stream=downstream").ToString());
        Assert.Equal(rule, EchoFault.Latency(TimeSpan.FromMilliseconds(5)).WithStream(FaultDirection.Upstream));
        var error = Assert.Throws<FormatException>(() => EchoFault.Parse("latency:delay=5ms,stream=sideways"));
        Assert.Contains("stream='sideways' is not upstream or downstream", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The sender of the accepted event of a new connection, awaited (a blocking wait here could starve the thread pool that raises it).</summary>
    private static async Task<object?> SenderAsync(FaultProxy proxy)
    {
        var sender = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.ConnectionAccepted += (s, _) => sender.TrySetResult(s);
        using var client = await TestHelpers.ConnectAsync(proxy.EndPoint());
        return await sender.Task.WaitAsync(TestHelpers.Timeout);
    }

    private static IPEndPoint FreeLoopbackPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)probe.LocalEndPoint!;
    }

    private static Task<FaultProxy> StartProxyAsync(EndPoint upstream, params string[] rules) => StartProxyAsync(upstream, configure: null, rules);

    private static Task<FaultProxy> StartProxyAsync(EndPoint upstream, Action<FaultProxyOptions>? configure, params string[] rules) =>
        StartProxyAsync(upstream, configure, meterFactory: null, rules);

    private static async Task<FaultProxy> StartProxyAsync(EndPoint upstream, Action<FaultProxyOptions>? configure, System.Diagnostics.Metrics.IMeterFactory? meterFactory, params string[] rules)
    {
        var options = new FaultProxyOptions { Upstream = upstream, FaultSeed = 1 };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        foreach (var rule in rules)
        {
            options.Faults.Add(EchoFault.Parse(rule));
        }

        configure?.Invoke(options);
        var proxy = new FaultProxy(options, meterFactory: meterFactory);
        await proxy.StartAsync();
        return proxy;
    }

    private static Task WaitForPoolsAsync(FaultProxy proxy) =>
        TestHelpers.WaitUntilAsync(
            () => proxy.GetStatistics().ActiveConnections == 0 && proxy.PoolOutstanding == (0, 0),
            $"the proxy's pools back to baseline (outstanding {proxy.PoolOutstanding}, active {proxy.GetStatistics().ActiveConnections})");
}

internal static class FaultProxyTestExtensions
{
    public static IPEndPoint EndPoint(this FaultProxy proxy) => (IPEndPoint)proxy.EndPoints[0];
}

/// <summary>The fault proxy's UDP sessions in front of a real UDP echo server on loopback: relayed both ways, per direction faults, sessions per source.</summary>
public sealed class UdpFaultProxyTests
{
    [Fact]
    public async Task Relays_datagrams_both_ways_with_a_session_per_client_source()
    {
        await using var upstream = await StartUdpEchoAsync();
        await using var proxy = await StartAsync(upstream);
        using var first = Client(proxy);
        using var second = Client(proxy);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal([(byte)i, 1], await RoundTripAsync(first, [(byte)i, 1]));
            Assert.Equal([(byte)i, 2], await RoundTripAsync(second, [(byte)i, 2]));
        }

        // Counted from the clients' side, as an echo listener counts: received from them, sent back to them. A datagram
        // is counted once its send returned, which may be just after the client read it: wait for the last count.
        await TestHelpers.WaitUntilAsync(() => proxy.GetStatistics(EchoTransport.Udp).DatagramsEchoed >= 40, "the last answer counted");
        var statistics = proxy.GetStatistics(EchoTransport.Udp);
        Assert.Equal(40, statistics.DatagramsReceived);
        Assert.Equal(40, statistics.DatagramsEchoed);
        Assert.Equal(80, statistics.BytesReceived);
        Assert.Equal(80, statistics.BytesSent);
        Assert.Equal(0, statistics.DatagramsDropped);
    }

    [Fact]
    public async Task Drop_on_the_upstream_stream_loses_requests_and_the_same_seed_loses_the_same_ones()
    {
        await using var upstream = await StartUdpEchoAsync();
        async Task<string> LostAsync()
        {
            await using var proxy = await StartAsync(upstream, "drop:toxicity=0.5,stream=upstream");
            using var client = Client(proxy);
            var answered = new HashSet<int>();
            for (var i = 0; i < 40; i++)
            {
                client.Send([(byte)i]);
            }

            // Answers are told apart by their byte, so a late one on a busy machine is still counted as arrived.
            while (answered.Count < 40 && await TryReceiveAsync(client, TimeSpan.FromSeconds(2)) is { } answer)
            {
                answered.Add(answer[0]);
            }

            var lost = Enumerable.Range(0, 40).Where(i => !answered.Contains(i)).ToList();
            Assert.Equal(lost.Count, proxy.GetStatistics().DatagramsFaultDropped);
            return string.Join(",", lost);
        }

        var run = await LostAsync();
        var count = run.Split(',', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.InRange(count, 8, 32);
        Assert.Equal(run, await LostAsync());
    }

    [Fact]
    public async Task Downstream_latency_delays_each_answer_and_duplicate_sends_it_twice()
    {
        await using var upstream = await StartUdpEchoAsync();
        await using var proxy = await StartAsync(upstream, "latency:delay=150ms", "duplicate");
        using var client = Client(proxy);

        var started = Stopwatch.StartNew();
        client.Send([42]);
        Assert.Equal([42], await TryReceiveAsync(client, TestHelpers.Timeout));
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(10));
        Assert.Equal([42], await TryReceiveAsync(client, TestHelpers.Timeout));
    }

    [Fact]
    public void A_unix_upstream_cannot_take_udp()
    {
        var options = new FaultProxyOptions { Upstream = new UnixDomainSocketEndPoint("/tmp/x.sock") };
        options.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        var e = Assert.Throws<ArgumentException>(() => new FaultProxy(options));
        Assert.Contains("FaultProxyOptions.UdpEndPoints need an IP or host name Upstream", e.Message, StringComparison.Ordinal);
    }

    private static async Task<EchoServer> StartUdpEchoAsync()
    {
        var options = new EchoServerOptions();
        options.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        return await TestHelpers.StartAsync(options);
    }

    private static async Task<FaultProxy> StartAsync(EchoServer upstream, params string[] rules)
    {
        var options = new FaultProxyOptions { Upstream = upstream.EndPoints[0], FaultSeed = 7 };
        options.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        foreach (var rule in rules)
        {
            options.Faults.Add(EchoFault.Parse(rule));
        }

        var proxy = new FaultProxy(options);
        await proxy.StartAsync();
        return proxy;
    }

    private static Socket Client(FaultProxy proxy)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(proxy.EndPoints[0]);
        return client;
    }

    private static async Task<byte[]> RoundTripAsync(Socket client, byte[] payload)
    {
        client.Send(payload);
        return await TryReceiveAsync(client, TestHelpers.Timeout) ?? throw new TimeoutException("no answer through the proxy");
    }

    private static async Task<byte[]?> TryReceiveAsync(Socket client, TimeSpan within)
    {
        var buffer = new byte[2048];
        using var timeout = new CancellationTokenSource(within);
        try
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return buffer[..n];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
