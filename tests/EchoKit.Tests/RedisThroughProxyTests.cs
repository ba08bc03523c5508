using System.Diagnostics;
using System.Globalization;
using System.Net;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace EchoKit.Tests;

/// <summary>
/// A real Redis server (<see cref="RedisServerFixture"/>) and its real .NET client, StackExchange.Redis, with the fault
/// proxy between them: each rule is proven through what the client library reports, over real loopback sockets.
/// Every test has its own proxy and its own multiplexer, so the multiplexer's background reconnects and heartbeats of
/// one test cannot reach another. The tests of this class run one after another (one xunit collection), which keeps
/// the latency medians free of this class's own load; other classes may still run beside them.
/// </summary>
public sealed class RedisThroughProxyTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    /// <summary>An outer bound for each test, so a hang fails instead of stalling the run.</summary>
    private const int TestTimeoutMilliseconds = 60_000;

    /// <summary>The client's timeout for commands (sync and async) in the tests that do not measure it.</summary>
    private const int CommandTimeoutMilliseconds = 2_000;

    /// <summary>How long a wait for the client's own events (a failure, a reconnect) may take before the test fails.</summary>
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(15);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Set_and_get_round_trip_through_the_proxy_and_a_1_MiB_value_comes_back_intact()
    {
        await using var proxy = await StartProxyAsync();
        await using var client = await ConnectAsync(proxy);
        var db = client.GetDatabase();
        var key = UniqueKey();

        Assert.True(await db.StringSetAsync(key, "hello"));
        Assert.Equal("hello", (string?)await db.StringGetAsync(key));

        // 1 MiB crosses the proxy's 64 KiB buffers many times in both directions.
        var value = TestHelpers.RandomBytes(1 << 20, seed: 6379);
        Assert.True(await db.StringSetAsync(key, value));
        var read = (byte[]?)await db.StringGetAsync(key);
        Assert.NotNull(read);
        Assert.True(value.AsSpan().SequenceEqual(read), $"the 1 MiB value came back changed ({read.Length} bytes)");

        // It went through the proxy, not around it: both copies of the value crossed it.
        var statistics = proxy.GetStatistics();
        Assert.True(statistics.BytesReceived > value.Length, $"the proxy received {statistics.BytesReceived} bytes from the client");
        Assert.True(statistics.BytesSent > value.Length, $"the proxy sent {statistics.BytesSent} bytes to the client");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Downstream_and_upstream_latency_add_their_delay_to_every_round_trip_and_leave_with_the_rule()
    {
        await using var proxy = await StartProxyAsync();
        await using var client = await ConnectAsync(proxy);
        var db = client.GetDatabase();
        var baseline = await MedianPingAsync(db);

        // Downstream: the PONG waits 50 ms in the proxy. The live connection takes the rule up at its next message.
        var downstream = EchoFault.Parse("latency:delay=50ms");
        proxy.Faults.Add(downstream);
        await db.PingAsync();
        var (withDownstream, fastestDownstream) = await MedianAndMinimumPingAsync(db);

        // Upstream too: the PING waits 20 ms on its way to Redis, the PONG 50 ms on its way back.
        var upstream = EchoFault.Parse("latency:delay=20ms,stream=upstream");
        proxy.Faults.Add(upstream);
        await db.PingAsync();
        var (withBoth, fastestBoth) = await MedianAndMinimumPingAsync(db);

        // Upstream alone: only the PING waits.
        Assert.True(proxy.Faults.Remove(downstream));
        await db.PingAsync();
        var (withUpstream, fastestUpstream) = await MedianAndMinimumPingAsync(db);

        // Removed: the client is fast again on the same connection, without reconnecting.
        proxy.Faults.Clear();
        await db.PingAsync();
        var afterRemoval = await MedianPingAsync(db);

        output.WriteLine(
            $"median PING: baseline {Ms(baseline)}; latency 50ms downstream {Ms(withDownstream)} (added {Ms(withDownstream - baseline)}, fastest {Ms(fastestDownstream)}); " +
            $"plus 20ms upstream {Ms(withBoth)} (added {Ms(withBoth - baseline)}, fastest {Ms(fastestBoth)}); " +
            $"20ms upstream alone {Ms(withUpstream)} (added {Ms(withUpstream - baseline)}, fastest {Ms(fastestUpstream)}); after removal {Ms(afterRemoval)}");

        // A delay is never early: every round trip is at least the delay (strict), the median adds about it (loose,
        // for a shared machine: the benchmark, not this test, holds the ±2 ms target).
        Assert.True(fastestDownstream >= TimeSpan.FromMilliseconds(50), $"a PING came back in {Ms(fastestDownstream)} under latency:delay=50ms");
        Assert.InRange(withDownstream - baseline, TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(60));
        Assert.True(fastestBoth >= TimeSpan.FromMilliseconds(70), $"a PING came back in {Ms(fastestBoth)} under 50 ms downstream and 20 ms upstream");
        Assert.InRange(withBoth - baseline, TimeSpan.FromMilliseconds(60), TimeSpan.FromMilliseconds(80));
        Assert.True(fastestUpstream >= TimeSpan.FromMilliseconds(20), $"a PING came back in {Ms(fastestUpstream)} under 20 ms upstream");
        Assert.InRange(withUpstream - baseline, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(30));
        Assert.True(afterRemoval < baseline + TimeSpan.FromMilliseconds(10), $"after removing the rules the median PING took {Ms(afterRemoval)} (baseline {Ms(baseline)})");
        Assert.Equal(0, client.GetCounters().Interactive.TotalOutstanding);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task A_reset_while_a_command_waits_fails_that_command_with_a_connection_error_not_a_hang()
    {
        // Every connection is reset 3 s after the proxy accepted it: time enough to connect and set a key, even on a
        // busy CI machine (with 1 s, a slow handshake was itself reset once).
        await using var proxy = await StartProxyAsync("reset:after=3s");
        await using var client = await ConnectAsync(proxy, configure: o => o.AsyncTimeout = 10_000);
        var db = client.GetDatabase();
        var key = UniqueKey();
        Assert.True(await db.StringSetAsync(key, "before the reset"));

        // BLPOP on an empty list makes Redis hold the reply for 20 s, so the command is in flight when the RST comes;
        // the client's timeout (10 s) is far away, so only the reset can end it this early.
        var started = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RedisConnectionException>(
            () => db.ExecuteAsync("BLPOP", UniqueKey(), 20).WaitAsync(EventTimeout));
        output.WriteLine($"BLPOP failed after {Ms(started.Elapsed)}: {error.FailureType}: {error.Message}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the reset took {Ms(started.Elapsed)} to reach the command");
        Assert.Contains(error.FailureType, new[] { ConnectionFailureType.SocketFailure, ConnectionFailureType.SocketClosed });
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task A_reset_rule_fails_a_new_client_connect_with_the_clients_connection_error()
    {
        await using var proxy = await StartProxyAsync();
        await using (var first = await ConnectAsync(proxy))
        {
            Assert.True(await first.GetDatabase().PingAsync() >= TimeSpan.Zero);
        }

        // reset applies to connections accepted after the change: a new client is reset before any reply.
        proxy.Faults.Add(EchoFault.Parse("reset"));
        var started = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(proxy));
        output.WriteLine($"connect failed after {Ms(started.Elapsed)}: {error.FailureType}: {error.Message}");
        Assert.Equal(ConnectionFailureType.UnableToConnect, error.FailureType);
        Assert.True(started.Elapsed < EventTimeout, $"the failed connect took {Ms(started.Elapsed)}");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task A_downstream_limit_cuts_a_large_reply_and_the_client_reports_the_broken_connection()
    {
        var key = UniqueKey();
        var value = TestHelpers.RandomBytes(1 << 20, seed: 42);
        await using (var direct = await ConnectAsync(redis.EndPoint))
        {
            Assert.True(await direct.GetDatabase().StringSetAsync(key, value));
        }

        // 64 KiB from Redis to the client per connection: the handshake and a small reply fit, a 1 MiB reply does not.
        await using var proxy = await StartProxyAsync("limit:bytes=64KiB");
        await using var client = await ConnectAsync(proxy, configure: o => o.AsyncTimeout = 10_000);
        var db = client.GetDatabase();
        Assert.Equal(1 << 20, (long)await db.StringLengthAsync(key));

        var started = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => db.StringGetAsync(key).WaitAsync(EventTimeout));
        output.WriteLine($"GET of 1 MiB failed after {Ms(started.Elapsed)}: {error.FailureType}: {error.Message}");
        Assert.Contains(error.FailureType, new[] { ConnectionFailureType.SocketFailure, ConnectionFailureType.SocketClosed });
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the cut took {Ms(started.Elapsed)} to reach the command (its timeout is 10 s)");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task A_stopped_proxy_refuses_clients_and_a_new_proxy_on_its_endpoint_is_found_again_by_the_live_client()
    {
        var proxy = await StartProxyAsync();
        var endPoint = (IPEndPoint)proxy.EndPoints[0];
        await using var client = await ConnectAsync(proxy, configure: o => o.AbortOnConnectFail = false);
        var events = new ConnectionEvents(client);
        var db = client.GetDatabase();
        var key = UniqueKey();
        Assert.True(await db.StringSetAsync(key, "survives the outage"));

        await proxy.StopAsync().WaitAsync(EventTimeout);
        await proxy.DisposeAsync();
        await events.Failed.WaitAsync(EventTimeout);

        // The live client has no connection: its command fails at once (fail-fast backlog), as the client's own error.
        await Assert.ThrowsAsync<RedisConnectionException>(() => db.StringGetAsync(key).WaitAsync(EventTimeout));

        // Nothing listens: a new client's connect is refused, which it reports as unable to connect.
        var started = Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(endPoint));
        output.WriteLine($"connect to the stopped proxy failed after {Ms(started.Elapsed)}: {refused.FailureType}: {refused.Message}");
        Assert.Equal(ConnectionFailureType.UnableToConnect, refused.FailureType);

        // A new proxy on the same endpoint: the live client reconnects by itself and reads what it wrote before.
        await using var replacement = await StartProxyAsync(configure: o => o.EndPoints[0] = endPoint);
        await events.Restored.WaitAsync(EventTimeout);
        Assert.Equal("survives the outage", (string?)await db.StringGetAsync(key));
        Assert.True(replacement.GetStatistics().AcceptedConnections > 0, "the client reached Redis around the new proxy");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Blackhole_times_commands_out_within_the_clients_timeout_and_the_client_recovers_once_it_is_removed()
    {
        const int timeoutMilliseconds = 500;
        await using var proxy = await StartProxyAsync();
        await using var client = await ConnectAsync(proxy, configure: o => o.AsyncTimeout = o.SyncTimeout = timeoutMilliseconds);
        var db = client.GetDatabase();
        var baseline = await MedianPingAsync(db);

        // Downstream blackhole (Toxiproxy's timeout toxic): Redis answers, the proxy swallows the answers.
        var blackhole = EchoFault.Parse("blackhole");
        proxy.Faults.Add(blackhole);
        var started = Stopwatch.StartNew();
        await Assert.ThrowsAsync<RedisTimeoutException>(() => db.PingAsync().WaitAsync(EventTimeout));
        var timedOutAfter = started.Elapsed;
        output.WriteLine($"PING timed out after {Ms(timedOutAfter)} (client timeout {timeoutMilliseconds} ms, heartbeat 100 ms)");
        Assert.True(timedOutAfter >= TimeSpan.FromMilliseconds(timeoutMilliseconds - 20), $"the PING timed out after {Ms(timedOutAfter)}, before the client's timeout");
        Assert.True(timedOutAfter < TimeSpan.FromMilliseconds(timeoutMilliseconds + 1_000), $"the PING timed out after {Ms(timedOutAfter)}, long after the client's timeout");

        // The timed-out PING stays in the client's queue of sent commands waiting for a reply (that is how it keeps
        // replies matched to commands), so a connection whose answers were swallowed must not be reused: the client
        // drops it when commands keep timing out and nothing has been read for four timeouts (it raises no
        // ConnectionFailed for that). Keep it busy until a command fails for want of a connection, so the recovery
        // below is on a fresh connection, as an application's would be.
        while (true)
        {
            var error = await Record.ExceptionAsync(() => db.PingAsync().WaitAsync(EventTimeout));
            if (error is RedisConnectionException)
            {
                break;
            }

            Assert.True(error is RedisTimeoutException, $"a PING into the blackhole ended with {error?.GetType().Name ?? "a reply"}");
            Assert.True(started.Elapsed < EventTimeout, "the client kept the blackholed connection for good");
        }

        var droppedAfter = started.Elapsed;
        output.WriteLine($"the client dropped the blackholed connection after {Ms(droppedAfter)}");
        Assert.True(droppedAfter >= TimeSpan.FromMilliseconds(4 * timeoutMilliseconds), $"the client dropped the connection after {Ms(droppedAfter)}, before four timeouts without a read");

        // Removed: the client reconnects by itself, and its commands get their own answers and are fast again.
        Assert.True(proxy.Faults.Remove(blackhole));
        await WaitUntilAnswersAsync(db);
        output.WriteLine($"answered again {Ms(started.Elapsed - droppedAfter)} after the drop");
        for (var i = 0; i < 5; i++)
        {
            var key = UniqueKey();
            var value = i.ToString(CultureInfo.InvariantCulture);
            Assert.True(await db.StringSetAsync(key, value));
            Assert.Equal(value, (string?)await db.StringGetAsync(key));
        }

        var afterRemoval = await MedianPingAsync(db);
        output.WriteLine($"median PING: baseline {Ms(baseline)}, after removal {Ms(afterRemoval)}");
        Assert.True(afterRemoval < baseline + TimeSpan.FromMilliseconds(10), $"after removing the blackhole the median PING took {Ms(afterRemoval)} (baseline {Ms(baseline)})");
    }

    /// <summary>Client settings for tests: short timeouts, no retries hidden inside a connect, commands failing fast while disconnected.</summary>
    private static ConfigurationOptions ClientOptions(EndPoint server)
    {
        var options = new ConfigurationOptions
        {
            ConnectTimeout = CommandTimeoutMilliseconds,
            SyncTimeout = CommandTimeoutMilliseconds,
            AsyncTimeout = CommandTimeoutMilliseconds,

            // One attempt per ConnectAsync, and a failed first connect throws instead of returning a multiplexer that
            // keeps trying in the background (tests that want that set AbortOnConnectFail to false).
            ConnectRetry = 0,
            AbortOnConnectFail = true,

            // While disconnected a command fails at once instead of waiting in the backlog for a reconnect: a test sees
            // the outage as an error, not as a slow success.
            BacklogPolicy = BacklogPolicy.FailFast,

            // Reconnect every 100 ms, checked on a 100 ms heartbeat (default 1 s), which also finds timed-out commands.
            ReconnectRetryPolicy = new LinearRetry(100),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),

            // Redis 7.0 has no CLIENT SETINFO; not sending it keeps the handshake to commands the server knows.
            SetClientLibrary = false,
            ClientName = "echokit-tests",
        };
        options.EndPoints.Add(server);
        return options;
    }

    private static Task<ConnectionMultiplexer> ConnectAsync(FaultProxy proxy, Action<ConfigurationOptions>? configure = null) =>
        ConnectAsync(proxy.EndPoints[0], configure);

    private static async Task<ConnectionMultiplexer> ConnectAsync(EndPoint server, Action<ConfigurationOptions>? configure = null)
    {
        var options = ClientOptions(server);
        configure?.Invoke(options);
        return await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(EventTimeout);
    }

    private async Task<FaultProxy> StartProxyAsync(params string[] rules) => await StartProxyAsync(configure: null, rules);

    private async Task<FaultProxy> StartProxyAsync(Action<FaultProxyOptions>? configure, params string[] rules)
    {
        var options = new FaultProxyOptions { Upstream = redis.EndPoint, FaultSeed = 1 };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        foreach (var rule in rules)
        {
            options.Faults.Add(EchoFault.Parse(rule));
        }

        configure?.Invoke(options);
        var proxy = new FaultProxy(options);
        await proxy.StartAsync();
        return proxy;
    }

    /// <summary>The median of 21 PING round trips measured by the caller (so the client's own work is in it), after 3 unmeasured ones.</summary>
    private static async Task<TimeSpan> MedianPingAsync(IDatabase db) => (await MedianAndMinimumPingAsync(db)).Median;

    private static async Task<(TimeSpan Median, TimeSpan Minimum)> MedianAndMinimumPingAsync(IDatabase db)
    {
        for (var i = 0; i < 3; i++)
        {
            await db.PingAsync();
        }

        var samples = new TimeSpan[21];
        for (var i = 0; i < samples.Length; i++)
        {
            var started = Stopwatch.StartNew();
            await db.PingAsync();
            samples[i] = started.Elapsed;
        }

        Array.Sort(samples);
        return (samples[samples.Length / 2], samples[0]);
    }

    /// <summary>After a reconnect the first command may still meet a connection being set up: retry a PING, bounded.</summary>
    private static async Task WaitUntilAnswersAsync(IDatabase db)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await db.PingAsync();
                return;
            }
            catch (RedisException) when (deadline.Elapsed < EventTimeout)
            {
                await Task.Delay(50);
            }
        }
    }

    private static string UniqueKey() => "echokit:" + Guid.NewGuid().ToString("N");

    private static string Ms(TimeSpan time) => time.TotalMilliseconds.ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    /// <summary>The multiplexer's first failure and first restore of its interactive connection (the one commands use), as tasks.</summary>
    private sealed class ConnectionEvents
    {
        private readonly TaskCompletionSource<ConnectionFailedEventArgs> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<ConnectionFailedEventArgs> _restored = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConnectionEvents(ConnectionMultiplexer client)
        {
            client.ConnectionFailed += (_, e) =>
            {
                if (e.ConnectionType == ConnectionType.Interactive)
                {
                    _failed.TrySetResult(e);
                }
            };
            client.ConnectionRestored += (_, e) =>
            {
                // A restore counts only after the failure it ends.
                if (e.ConnectionType == ConnectionType.Interactive && _failed.Task.IsCompleted)
                {
                    _restored.TrySetResult(e);
                }
            };
        }

        public Task<ConnectionFailedEventArgs> Failed => _failed.Task;

        public Task<ConnectionFailedEventArgs> Restored => _restored.Task;
    }
}
