using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EchoKit.Hosting.Tests;

public class HostingTests
{
    [Fact]
    public async Task A_host_configured_from_a_section_starts_echoes_and_stops()
    {
        var builder = TestHelpers.Builder(TestHelpers.LoopbackSettings());
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        var endPoint = server.EndPoint();
        Assert.Equal(IPAddress.Loopback, endPoint.Address);
        Assert.NotEqual(0, endPoint.Port);
        await TestHelpers.AssertEchoesAsync(endPoint);

        await host.StopAsync().WaitAsync(TestHelpers.Timeout);
        var ex = await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        host.Dispose();
    }

    [Fact]
    public async Task The_server_logs_through_the_hosts_logger_factory_and_measures_through_its_meter_factory()
    {
        var builder = TestHelpers.Builder();
        builder.Logging.AddFakeLogging();
        builder.Services.AddMetrics();
        builder.Services.AddEchoServer(o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));
        using var host = builder.Build();
        using var active = new MetricCollector<long>(
            host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), "EchoKit", "echokit.active_connections");

        await host.StartAsync();
        var server = host.Services.GetRequiredService<EchoServer>();
        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await TestHelpers.WaitUntilAsync(() => active.GetMeasurementSnapshot().EvaluateAsCounter() == 1, "the connection to be measured");
        }

        await host.StopAsync();
        var logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Contains(logs, r => r.Category == "EchoKit.EchoServer" && r.Level == LogLevel.Information && r.Message.Contains(server.EndPoint().ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Adding_the_server_twice_registers_one_server_and_one_hosted_service_and_the_configurations_compose()
    {
        var builder = TestHelpers.Builder(TestHelpers.LoopbackSettings());
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        builder.Services.AddEchoServer(o =>
        {
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.MaxConnections = 7;
        });
        builder.Services.AddEchoServer(o => o.Backlog = 9);

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IHostedService));
        Assert.Single(builder.Services, d => d.ServiceType == typeof(EchoServer));
        using var host = await TestHelpers.StartAsync(builder);
        Assert.Single(host.Services.GetServices<IHostedService>());
        var options = host.Services.Options();
        Assert.Equal((7, 9), (options.MaxConnections, options.Backlog));

        var server = host.Services.GetRequiredService<EchoServer>();
        Assert.Equal(2, server.EndPoints.Count);
        await TestHelpers.AssertEchoesAsync(server.EndPoint(0));
        await TestHelpers.AssertEchoesAsync(server.EndPoint(1));
        await host.StopAsync();
    }

    [Fact]
    public void A_configure_action_after_the_section_overrides_its_values()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:MaxConnections"] = "5";
        settings["EchoServer:IdleTimeout"] = "00:01:00";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"), o => o.MaxConnections = 50);

        using var provider = builder.Services.BuildServiceProvider();
        var options = provider.Options();
        Assert.Equal(50, options.MaxConnections);
        Assert.Equal(TimeSpan.FromMinutes(1), options.IdleTimeout);
    }

    [Fact]
    public async Task Events_can_be_subscribed_on_the_resolved_server_before_the_host_starts()
    {
        var builder = TestHelpers.Builder(TestHelpers.LoopbackSettings());
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var host = builder.Build();
        var server = host.Services.GetRequiredService<EchoServer>();
        Assert.Empty(server.EndPoints);
        var accepted = new TaskCompletionSource<ConnectionAcceptedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.ConnectionAccepted += (_, e) => accepted.TrySetResult(e);

        await host.StartAsync();
        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            var e = await accepted.Task.WaitAsync(TestHelpers.Timeout);
            Assert.Equal(server.EndPoint(), e.LocalEndPoint);
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task Named_servers_run_side_by_side_each_with_its_own_options_and_hosted_service()
    {
        var settings = TestHelpers.LoopbackSettings("EchoServers:Health");
        settings["EchoServers:Health:MaxConnections"] = "10";
        settings["EchoServers:Load:EndPoints:0"] = "127.0.0.1:0";
        settings["EchoServers:Load:ReceiveBufferSize"] = "65536";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer("health", builder.Configuration.GetSection("EchoServers:Health"));
        builder.Services.AddEchoServer("load", builder.Configuration.GetSection("EchoServers:Load"));
        builder.Services.AddEchoServer("load", o => o.KeepAlive = true);
        builder.Services.AddEchoServer(o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));

        using var host = await TestHelpers.StartAsync(builder);
        Assert.Equal(3, host.Services.GetServices<IHostedService>().Count());
        var health = host.Services.GetRequiredKeyedService<EchoServer>("health");
        var load = host.Services.GetRequiredKeyedService<EchoServer>("load");
        var unnamed = host.Services.GetRequiredService<EchoServer>();
        Assert.Equal(3, new HashSet<EchoServer> { health, load, unnamed }.Count);
        Assert.Equal(3, new HashSet<int> { health.EndPoint().Port, load.EndPoint().Port, unnamed.EndPoint().Port }.Count);
        Assert.Equal(10, host.Services.Options("health").MaxConnections);
        Assert.Equal((65536, true), (host.Services.Options("load").ReceiveBufferSize, host.Services.Options("load").KeepAlive));
        Assert.Equal(10_000, host.Services.Options().MaxConnections);

        await Task.WhenAll(
            TestHelpers.AssertEchoesAsync(health.EndPoint()),
            TestHelpers.AssertEchoesAsync(load.EndPoint()),
            TestHelpers.AssertEchoesAsync(unnamed.EndPoint()));

        await host.StopAsync().WaitAsync(TestHelpers.Timeout);
        foreach (var server in new[] { health, load, unnamed })
        {
            await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(server.EndPoint()));
        }
    }

    [Fact]
    public async Task A_port_in_use_fails_the_host_start_naming_the_endpoint()
    {
        using var occupier = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupier.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupier.Listen();
        var taken = (IPEndPoint)occupier.LocalEndPoint!;
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:EndPoints:0"] = taken.ToString() });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<IOException>(builder);

        Assert.Contains(taken.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_server_that_cannot_bind_fails_the_start_with_its_name_and_the_host_disposal_frees_the_others()
    {
        using var occupier = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupier.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupier.Listen();
        var taken = (IPEndPoint)occupier.LocalEndPoint!;
        var builder = TestHelpers.Builder();
        builder.Services.AddEchoServer("first", o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));
        builder.Services.AddEchoServer("second", o => o.EndPoints.Add(taken));
        var host = builder.Build();

        var ex = await Assert.ThrowsAsync<IOException>(() => host.StartAsync());
        Assert.Contains("'second'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(taken.ToString(), ex.Message, StringComparison.Ordinal);

        var first = host.Services.GetRequiredKeyedService<EchoServer>("first");
        var firstEndPoint = first.EndPoint();
        await TestHelpers.AssertEchoesAsync(firstEndPoint);
        await ((IAsyncDisposable)host).DisposeAsync();
        await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(firstEndPoint));
    }

    [Fact]
    public async Task The_hosts_stop_drains_the_in_flight_echo_then_closes_with_ServerStopping()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:ShutdownTimeout"] = "00:00:20";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(64 * 1024 * 1024, seed: 1);

        // Send continuously while reading everything back, as a well-behaved client does: when the server ends
        // the stream, stop sending and close. Stop the host part-way.
        var reader = client.ReceiveToEndAsync();
        var writer = Task.Run(async () =>
        {
            try
            {
                for (var offset = 0; offset < payload.Length && !reader.IsCompleted; offset += 64 * 1024)
                {
                    await client.SendAllAsync(payload.AsMemory(offset, 64 * 1024));
                }

                client.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The server may close while we are still sending.
            }
        });
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent > 1024 * 1024, "echo traffic");

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(TestHelpers.Timeout);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"the drain took {stopwatch.Elapsed}, as if it had waited for the shutdown timeout");
        var echoed = await reader;
        await writer;
        var result = await closed.Task.WaitAsync(TestHelpers.Timeout);

        Assert.Equal(ConnectionCloseReason.ServerStopping, result.Reason);
        Assert.Equal(result.BytesReceived, result.BytesSent);
        Assert.Equal(result.BytesSent, echoed.Length);
        Assert.True(echoed.AsSpan().SequenceEqual(payload.AsSpan(0, echoed.Length)), "echoed bytes differ from what was sent");
    }

    [Fact]
    public async Task The_hosts_shutdown_timeout_cuts_a_stuck_drain_short()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:ShutdownTimeout"] = "00:10:00";
        var builder = TestHelpers.Builder(settings);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        using var client = await NeverReadingClientAsync(server);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(TestHelpers.Timeout);

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"stop took {stopwatch.Elapsed}");
        Assert.Equal(0, server.GetStatistics().ActiveConnections);
    }

    [Fact]
    public async Task A_unix_domain_socket_endpoint_from_configuration_serves()
    {
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            return;
        }

        var path = Path.Combine(Path.GetTempPath(), $"echokit-{Guid.NewGuid():N}.sock");
        try
        {
            var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:EndPoints:0"] = "unix:" + path });
            builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
            using var host = await TestHelpers.StartAsync(builder);
            var server = host.Services.GetRequiredService<EchoServer>();

            await TestHelpers.AssertEchoesAsync(server.EndPoints[0]);
            await host.StopAsync();
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A client whose echo is stuck: it sent far more than the socket buffers hold and never reads.</summary>
    private static async Task<Socket> NeverReadingClientAsync(EchoServer server)
    {
        var client = await TestHelpers.ConnectAsync(server.EndPoint());
        client.ReceiveBufferSize = 64 * 1024;
        var chunk = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        while (true)
        {
            var send = client.SendAsync(chunk, SocketFlags.None, cts.Token).AsTask();
            if (await Task.WhenAny(send, Task.Delay(500, cts.Token)) != send)
            {
                // The send is blocked: the server's echo is stuck on our full receive window.
                break;
            }

            await send;
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived > 0, "the server to receive");
        return client;
    }
}
