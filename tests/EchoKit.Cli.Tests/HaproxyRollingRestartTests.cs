using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EchoKit.Testing;
using Xunit.Abstractions;

namespace EchoKit.Cli.Tests;

/// <summary>
/// A rolling restart behind a real HAProxy that health-checks each instance's <c>/readyz</c> on its admin port: each
/// instance in turn is stopped the way SIGTERM stops it (with <c>--drain-delay</c>: 503 at once, still serving for the
/// delay, then a graceful stop) and started again on the same ports, while clients keep going through the balancer.
/// </summary>
[Collection(nameof(HaproxyTests))]
public sealed class HaproxyRollingRestartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan DrainDelay = TimeSpan.FromSeconds(1);

    [SkippableFact]
    public async Task A_churn_load_sees_zero_failed_echoes_while_each_instance_restarts_in_turn()
    {
        HaproxyTests.RequireHaproxy();
        await using var cluster = await Cluster.StartAsync(output);
        using var stop = new CancellationTokenSource();
        var ok = 0L;
        var errors = new ConcurrentQueue<string>();

        // Four clients: connect through the balancer, echo 1 KiB, verify, close; again, until the restarts are done.
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            var payload = SocketTestHelpers.RandomBytes(1024, seed: c);
            for (var i = 0; i < 100_000 && !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var socket = await HaproxyTests.ConnectFromAsync(IPAddress.Parse($"127.0.0.{60 + c}"), cluster.Frontend);
                    var echoed = await socket.EchoAsync(payload).WaitAsync(TimeSpan.FromSeconds(10));
                    if (!echoed.AsSpan().SequenceEqual(payload))
                    {
                        errors.Enqueue($"client {c}: the echo differs");
                    }

                    Interlocked.Increment(ref ok);
                }
                catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
                {
                    errors.Enqueue($"client {c}, echo {i}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).ToArray();

        await SocketTestHelpers.WaitUntilAsync(() => Interlocked.Read(ref ok) > 100, "the load running");
        var beforeRestarts = Interlocked.Read(ref ok);
        await cluster.RestartEachAsync();
        var afterRestarts = Interlocked.Read(ref ok);
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(CliRun.Timeout);

        output.WriteLine($"FIGURE rolling restart, churn: {Interlocked.Read(ref ok)} echoes verified ({afterRestarts - beforeRestarts} during the restarts), {errors.Count} failed");
        Assert.True(errors.IsEmpty, string.Join("\n", errors.Take(10)) + "\n" + cluster.Haproxy.Log);
        Assert.True(afterRestarts - beforeRestarts > 20, $"only {afterRestarts - beforeRestarts} echoes during the restarts");
    }

    [SkippableFact]
    public async Task Echokit_bench_connect_per_echo_sees_zero_failed_echoes_through_the_restarts()
    {
        HaproxyTests.RequireHaproxy();
        await using var cluster = await Cluster.StartAsync(output);

        // docs/DEPLOY.md's rolling restart, measured with the tool a user runs; the bench outlasts the restarts.
        var clock = Stopwatch.StartNew();
        var bench = CliRun.RunAsync("bench", $"127.0.0.1:{cluster.Frontend}", "--connect-per-echo", "-c", "4", "-s", "1k", "-d", "12s", "-w", "0", "--json");
        await Task.Delay(500);
        await cluster.RestartEachAsync();
        var restartsDone = clock.Elapsed;
        var (exitCode, json, error) = await bench;

        Assert.True(restartsDone < clock.Elapsed - TimeSpan.FromSeconds(0.5), $"the restarts ({restartsDone.TotalSeconds:0.0} s) outlasted the bench");
        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{json}\nstderr:\n{error}\n{cluster.Haproxy.Log}");
        var root = System.Text.Json.JsonDocument.Parse(json).RootElement;
        output.WriteLine($"FIGURE rolling restart, echokit bench --connect-per-echo: {root.GetProperty("messages").GetInt64()} echoes, " +
            $"{root.GetProperty("failedEchoes").GetInt64()} failed, restarts done at {restartsDone.TotalSeconds:0.0} s of 12 s");
        Assert.Equal(0, root.GetProperty("failedEchoes").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
    }

    [SkippableFact]
    public async Task Long_lived_connections_are_closed_by_the_drain_after_their_echo_and_none_loses_a_byte()
    {
        HaproxyTests.RequireHaproxy();
        await using var cluster = await Cluster.StartAsync(output);
        const int Connections = 10;
        var results = new ConcurrentBag<(int Echoes, string Ending)>();
        using var stop = new CancellationTokenSource();

        // Each connection pings 512 bytes and waits for the whole echo, until the server closes it (the drain) or the test ends.
        var clients = Enumerable.Range(0, Connections).Select(c => Task.Run(async () =>
        {
            using var socket = await HaproxyTests.ConnectFromAsync(IPAddress.Parse($"127.0.0.{80 + c}"), cluster.Frontend);
            var payload = SocketTestHelpers.RandomBytes(512, seed: 100 + c);
            var echoed = new byte[payload.Length];
            var echoes = 0;
            while (!stop.IsCancellationRequested && echoes < 1_000_000)
            {
                await socket.SendAllAsync(payload);
                var got = 0;
                while (got < echoed.Length)
                {
                    var read = await socket.ReceiveAsync(echoed.AsMemory(got), SocketFlags.None);
                    if (read == 0)
                    {
                        // The FIN came before any byte of this echo: the ping raced the drain's FIN and was not read
                        // by the instance; a FIN in the middle of an echo would be a lost byte.
                        results.Add((echoes, got == 0 ? "closed by the drain" : $"cut after {got} of {echoed.Length} bytes"));
                        return;
                    }

                    got += read;
                }

                if (!echoed.AsSpan().SequenceEqual(payload))
                {
                    results.Add((echoes, "an echo differs"));
                    return;
                }

                echoes++;
                await Task.Delay(20);
            }

            results.Add((echoes, "open at the end"));
        })).ToArray();

        await SocketTestHelpers.WaitUntilAsync(() => cluster.Instances.Sum(i => i.ActiveConnections()) >= Connections, "every connection served", CliRun.Timeout);
        Assert.All(cluster.Instances, i => Assert.True(i.ActiveConnections() > 0, "round robin left an instance without connections"));
        await cluster.RestartEachAsync();
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(CliRun.Timeout);

        var drained = results.Count(r => r.Ending == "closed by the drain");
        output.WriteLine($"FIGURE rolling restart, long-lived: {Connections} connections, {drained} closed by the drain after their last echo, {results.Sum(r => r.Echoes)} echoes verified; endings: {string.Join(", ", results.GroupBy(r => r.Ending).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.All(results, r => Assert.Contains(r.Ending, new[] { "closed by the drain", "open at the end" }));
        Assert.Equal(Connections, drained);
    }

    /// <summary>Two instances on fixed ports (so a restart takes the same ones) behind HAProxy, which checks each one's /readyz.</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;

        private Cluster(ITestOutputHelper output, Instance[] instances, Haproxy haproxy, int frontend)
        {
            _output = output;
            Instances = instances;
            Haproxy = haproxy;
            Frontend = frontend;
        }

        public Instance[] Instances { get; }

        public Haproxy Haproxy { get; }

        public int Frontend { get; }

        public static async Task<Cluster> StartAsync(ITestOutputHelper output)
        {
            var instances = new[] { new Instance(Haproxy.FreePort(), Haproxy.FreePort()), new Instance(Haproxy.FreePort(), Haproxy.FreePort()) };
            foreach (var instance in instances)
            {
                await instance.StartAsync();
            }

            var frontend = Haproxy.FreePort();
            var haproxy = await Haproxy.StartAsync(Haproxy.Configuration(
                frontend,
                defaults: """
                      retries 3
                      option redispatch
                    """,
                backends: $"""
                backend be
                  balance roundrobin
                  option httpchk GET /readyz
                  http-check expect status 200
                  default-server inter 200ms fall 1 rise 1
                  server s1 127.0.0.1:{instances[0].Port} send-proxy-v2 check port {instances[0].AdminPort}
                  server s2 127.0.0.1:{instances[1].Port} send-proxy check port {instances[1].AdminPort}
                """), frontend);
            var cluster = new Cluster(output, instances, haproxy, frontend);
            await Task.Delay(1000); // two health-check rounds: both servers up
            return cluster;
        }

        /// <summary>Stops each instance as SIGTERM does, waits until it has exited, starts it again, and waits until it is ready and the balancer saw it.</summary>
        public async Task RestartEachAsync()
        {
            foreach (var instance in Instances)
            {
                var stopping = Stopwatch.StartNew();
                var exitCode = await instance.StopAsync();
                _output.WriteLine($"instance on {instance.Port}: exit {exitCode} {stopping.ElapsedMilliseconds} ms after the signal");
                Assert.Equal(0, exitCode);
                await instance.StartAsync();

                // rise 1 at inter 200ms: the balancer takes it back within a few checks.
                await Task.Delay(1000);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Haproxy.Dispose();
            foreach (var instance in Instances)
            {
                await instance.StopAsync();
            }
        }
    }

    private sealed class Instance(int port, int adminPort)
    {
        private CliRun? _run;

        public int Port { get; } = port;

        public int AdminPort { get; } = adminPort;

        /// <summary>The instance's active connections, from its /healthz.</summary>
        public long ActiveConnections()
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{AdminPort}") };
            using var health = System.Text.Json.JsonDocument.Parse(http.GetStringAsync("/healthz").GetAwaiter().GetResult());
            return health.RootElement.GetProperty("activeConnections").GetInt64();
        }

        public async Task StartAsync()
        {
            _run = CliRun.Start(
                "serve", "--tcp", $"127.0.0.1:{Port}", "--proxy-protocol", "--admin", $"127.0.0.1:{AdminPort}",
                "--drain-delay", $"{DrainDelay.TotalMilliseconds}ms", "--shutdown-timeout", "5s");
            await _run.WaitForListenerAsync();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{AdminPort}") };
            await SocketTestHelpers.WaitUntilAsync(() => http.GetAsync("/readyz").Result.IsSuccessStatusCode, "/readyz 200", CliRun.Timeout);
        }

        public async Task<int> StopAsync()
        {
            if (_run is not { } run)
            {
                return 0;
            }

            _run = null;
            var exitCode = await run.StopAsync();
            run.Dispose();
            return exitCode;
        }
    }
}
