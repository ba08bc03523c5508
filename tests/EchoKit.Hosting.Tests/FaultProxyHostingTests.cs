using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EchoKit.Hosting.Tests;

/// <summary>
/// <c>AddFaultProxy</c> in a running host: a proxy in front of a real echo server on 127.0.0.1 relays bytes, applies
/// its rules per direction, logs and measures through the host, and starts and stops with it.
/// </summary>
public sealed class FaultProxyHostingTests : IAsyncLifetime, IAsyncDisposable
{
    /// <summary>The real server behind the proxies: an echo server, so whatever reaches it comes back.</summary>
    private readonly EchoServer _upstream = new(new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } });

    private IPEndPoint UpstreamEndPoint => _upstream.EndPoint();

    public Task InitializeAsync() => _upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    /// <summary>The upstream may be disposed twice (xunit may call both); a second dispose does nothing.</summary>
    ValueTask IAsyncDisposable.DisposeAsync() => _upstream.DisposeAsync();

    [Fact]
    public async Task A_proxy_bound_from_a_section_relays_bytes_to_the_upstream_and_back()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxy:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxy:Upstream"] = UpstreamEndPoint.ToString(),
        });
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxy"));

        using var host = await TestHelpers.StartAsync(builder);
        var proxy = host.Services.GetRequiredService<FaultProxy>();

        Assert.True(proxy.IsListening);
        Assert.Equal(UpstreamEndPoint, proxy.Upstream);
        await TestHelpers.AssertEchoesAsync(proxy.EndPoints[0]);
        await TestHelpers.WaitUntilAsync(() => _upstream.GetStatistics().AcceptedConnections == 1, "the upstream to see the relayed connection");
        await host.StopAsync();
    }

    [Fact]
    public async Task A_host_name_upstream_is_resolved_for_each_connection()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxy:Listen:0"] = "127.0.0.1:0",
            ["FaultProxy:Upstream"] = $"localhost:{UpstreamEndPoint.Port}",
        });
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxy"));

        using var host = await TestHelpers.StartAsync(builder);
        var proxy = host.Services.GetRequiredService<FaultProxy>();

        Assert.Equal(new DnsEndPoint("localhost", UpstreamEndPoint.Port), proxy.Upstream);
        await TestHelpers.AssertEchoesAsync(proxy.EndPoints[0], length: 4096);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_rule_from_configuration_acts_on_the_direction_its_stream_names()
    {
        // A limit on the way up: the upstream gets 10 bytes, then the proxy closes; the echo of those 10 is all that comes back.
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxy:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxy:Upstream"] = UpstreamEndPoint.ToString(),
            ["FaultProxy:Faults:0"] = "limit:bytes=10,stream=upstream",
        });
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxy"));

        using var host = await TestHelpers.StartAsync(builder);
        var proxy = host.Services.GetRequiredService<FaultProxy>();
        Assert.Equal(FaultDirection.Upstream, Assert.Single(proxy.Faults.Rules).Stream);

        using var client = await TestHelpers.ConnectAsync(proxy.EndPoints[0]);
        await client.SendAllAsync(TestHelpers.RandomBytes(100, seed: 1));
        var received = await client.ReceiveToEndAsync();

        Assert.True(received.Length <= 10, $"Expected at most the 10 bytes let through upstream, got {received.Length}.");
        Assert.Equal(TestHelpers.RandomBytes(100, seed: 1)[..received.Length], received);
        await host.StopAsync();
    }

    [Fact]
    public async Task Two_named_proxies_run_side_by_side_each_resolved_by_its_name()
    {
        // The Redis and PostgreSQL case: two upstreams, two proxies, one host.
        await using var second = new EchoServer(new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } });
        await second.StartAsync();
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxies:Redis:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxies:Redis:Upstream"] = UpstreamEndPoint.ToString(),
            ["FaultProxies:Postgres:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxies:Postgres:Upstream"] = second.EndPoint().ToString(),
            ["FaultProxies:Postgres:MaxConnections"] = "3",
        });
        builder.Services.AddFaultProxy("redis", builder.Configuration.GetSection("FaultProxies:Redis"));
        builder.Services.AddFaultProxy("postgres", builder.Configuration.GetSection("FaultProxies:Postgres"), o => o.FaultSeed = 5);

        using var host = await TestHelpers.StartAsync(builder);
        var redis = host.Services.GetRequiredKeyedService<FaultProxy>("redis");
        var postgres = host.Services.GetRequiredKeyedService<FaultProxy>("postgres");

        Assert.Equal(2, host.Services.GetServices<IHostedService>().Count());
        Assert.Null(host.Services.GetService<FaultProxy>());
        Assert.NotSame(redis, postgres);
        Assert.Equal(UpstreamEndPoint, redis.Upstream);
        Assert.Equal(second.EndPoint(), postgres.Upstream);
        Assert.Equal(5, postgres.Faults.Seed);
        Assert.Equal(3, host.Services.FaultProxyOptions("postgres").MaxConnections);
        await TestHelpers.AssertEchoesAsync(redis.EndPoints[0], length: 1000);
        await TestHelpers.AssertEchoesAsync(postgres.EndPoints[0], length: 2000);
        Assert.Equal(1, _upstream.GetStatistics().AcceptedConnections);
        Assert.Equal(1, second.GetStatistics().AcceptedConnections);
        await host.StopAsync();
    }

    [Fact]
    public async Task Adding_a_proxy_twice_registers_one_proxy_and_one_hosted_service_and_the_configurations_compose()
    {
        var builder = TestHelpers.Builder();
        builder.Services.AddFaultProxy(o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));
        builder.Services.AddFaultProxy(o => o.Upstream = UpstreamEndPoint);

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IHostedService));
        Assert.Single(builder.Services, d => d.ServiceType == typeof(FaultProxy));
        using var host = await TestHelpers.StartAsync(builder);
        await TestHelpers.AssertEchoesAsync(host.Services.GetRequiredService<FaultProxy>().EndPoints[0], length: 1000);
        await host.StopAsync();
    }

    [Fact]
    public async Task Stopping_the_host_stops_listening_and_closes_the_relayed_connections_on_both_sides()
    {
        var builder = TestHelpers.Builder();
        builder.Services.AddFaultProxy(o =>
        {
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Upstream = UpstreamEndPoint;
        });
        var host = await TestHelpers.StartAsync(builder);
        var proxy = host.Services.GetRequiredService<FaultProxy>();
        var endPoint = proxy.EndPoints[0];
        using var client = await TestHelpers.ConnectAsync(endPoint);
        Assert.Equal([1, 2, 3], await client.EchoAsync([1, 2, 3]));
        await TestHelpers.WaitUntilAsync(() => _upstream.GetStatistics().ActiveConnections == 1, "the upstream connection");

        await host.StopAsync().WaitAsync(TestHelpers.Timeout);

        Assert.False(proxy.IsListening);
        Assert.Empty(await client.ReceiveToEndAsync());
        await TestHelpers.WaitUntilAsync(() => _upstream.GetStatistics().ActiveConnections == 0, "the proxy to close its upstream connection");
        var refused = await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        host.Dispose();
    }

    [Fact]
    public async Task A_listen_endpoint_in_use_fails_the_start_naming_the_proxy_and_the_endpoint()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxies:Redis:EndPoints:0"] = taken.LocalEndPoint!.ToString(),
            ["FaultProxies:Redis:Upstream"] = UpstreamEndPoint.ToString(),
        });
        builder.Services.AddFaultProxy("redis", builder.Configuration.GetSection("FaultProxies:Redis"));

        var ex = await TestHelpers.StartFailsAsync<IOException>(builder);

        Assert.StartsWith("Fault proxy 'redis' failed to start:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(taken.LocalEndPoint.ToString()!, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_proxy_logs_through_the_hosts_logger_factory_and_measures_through_its_meter_factory()
    {
        var builder = TestHelpers.Builder();
        builder.Logging.AddFakeLogging();
        builder.Services.AddMetrics();
        builder.Services.AddFaultProxy(o =>
        {
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Upstream = UpstreamEndPoint;
        });
        using var host = builder.Build();
        using var active = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), "EchoKit", "echokit.proxy.active_connections");

        await host.StartAsync();
        var proxy = host.Services.GetRequiredService<FaultProxy>();
        using (var client = await TestHelpers.ConnectAsync(proxy.EndPoints[0]))
        {
            await client.EchoAsync([42]);
            await TestHelpers.WaitUntilAsync(() => active.GetMeasurementSnapshot().EvaluateAsCounter() == 1, "the relayed connection to be measured");
        }

        await host.StopAsync();
        var logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Contains(logs, r => r.Category == "EchoKit.FaultProxy" && r.Level == LogLevel.Information);
    }
}
