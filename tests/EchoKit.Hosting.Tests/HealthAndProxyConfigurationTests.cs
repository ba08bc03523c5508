using System.Net;
using System.Net.Sockets;
using EchoKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary><c>AddHealthChecks().AddEchoServer()</c> over a real server, and the <c>ProxyProtocol</c> configuration section.</summary>
public sealed class HealthAndProxyConfigurationTests
{
    [Fact]
    public async Task The_check_is_healthy_while_listening_degraded_near_max_connections_and_unhealthy_once_stopped()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:MaxConnections"] = "10";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        builder.Services.AddHealthChecks().AddEchoServer();
        using var host = builder.Build();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        var before = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, before.Status);

        await host.StartAsync();
        var server = host.Services.GetRequiredService<EchoServer>();
        var running = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, running.Status);
        Assert.Equal(10, running.Entries["echokit"].Data["maxConnections"]);

        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                clients.Add(await TestHelpers.ConnectAsync(server.EndPoint()));
            }

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 10, "10 connections");
            var full = await health.CheckHealthAsync();
            Assert.Equal(HealthStatus.Degraded, full.Status);
            Assert.Contains("10 of at most 10", full.Entries["echokit"].Description, StringComparison.Ordinal);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        await host.StopAsync();
        var stopped = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Contains("not listening", stopped.Entries["echokit"].Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_servers_check_has_its_name_and_failure_status()
    {
        var builder = TestHelpers.Builder(TestHelpers.LoopbackSettings("Edge"));
        builder.Services.AddEchoServer("edge", builder.Configuration.GetSection("Edge"));
        builder.Services.AddHealthChecks().AddEchoServer("edge", failureStatus: HealthStatus.Degraded, tags: ["ready"]);
        using var host = builder.Build();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        var entry = Assert.Single(report.Entries);
        Assert.Equal("echokit-edge", entry.Key);
        Assert.Equal(HealthStatus.Degraded, entry.Value.Status);
        Assert.Equal(["ready"], entry.Value.Tags);
    }

    [Fact]
    public async Task The_ProxyProtocol_section_binds_every_key_and_a_bad_value_names_its_key()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:ProxyProtocol:Enabled"] = "true";
        settings["EchoServer:ProxyProtocol:TrustedNetworks:0"] = "127.0.0.0/8";
        settings["EchoServer:ProxyProtocol:TrustedNetworks:1"] = "::1";
        settings["EchoServer:ProxyProtocol:HeaderTimeout"] = "2s";
        settings["EchoServer:ProxyProtocol:MaxHeaderLength"] = "1024";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var host = await TestHelpers.StartAsync(builder);

        var proxy = host.Services.Options().ProxyProtocol;
        Assert.True(proxy.Enabled);
        Assert.Equal([IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")], proxy.TrustedNetworks);
        Assert.Equal(TimeSpan.FromSeconds(2), proxy.HeaderTimeout);
        Assert.Equal(1024, proxy.MaxHeaderLength);

        var bad = TestHelpers.LoopbackSettings();
        bad["EchoServer:ProxyProtocol:TrustedNetworks:0"] = "10.0.0.0/33";
        bad["EchoServer:ProxyProtocol:MaxHeaderLength"] = "100";
        var badBuilder = TestHelpers.Builder(bad);
        badBuilder.Services.AddEchoServer(badBuilder.Configuration.GetSection("EchoServer"));
        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(badBuilder);
        Assert.Contains(ex.Failures, f => f.StartsWith("EchoServer:ProxyProtocol:TrustedNetworks:0: '10.0.0.0/33' is not a network", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("EchoServerOptions.ProxyProtocol.MaxHeaderLength must be from 232 to 65551 bytes (was 100)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DrainDelay_keeps_serving_while_the_check_reports_draining_then_stops()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:DrainDelay"] = "1500ms";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        builder.Services.AddHealthChecks().AddEchoServer();
        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(TimeSpan.FromMilliseconds(1500), host.Services.GetRequiredService<IOptionsMonitor<EchoServerDrainOptions>>().Get("").DrainDelay);

        var stopping = System.Diagnostics.Stopwatch.StartNew();
        var stop = host.StopAsync();
        await TestHelpers.WaitUntilAsync(() => health.CheckHealthAsync().GetAwaiter().GetResult().Status == HealthStatus.Unhealthy, "the check turning unhealthy");
        Assert.Contains("draining", (await health.CheckHealthAsync()).Entries["echokit"].Description, StringComparison.Ordinal);

        // Still accepting and echoing during the delay.
        await TestHelpers.AssertEchoesAsync(server.EndPoint(), 1024);
        Assert.True(server.IsListening);
        await stop.WaitAsync(TestHelpers.Timeout);
        Assert.True(stopping.Elapsed >= TimeSpan.FromMilliseconds(1400), $"stopped after {stopping.Elapsed}");
        Assert.False(server.IsListening);
    }

    [Fact]
    public async Task A_bad_DrainDelay_fails_the_start_naming_its_key()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:DrainDelay"] = "soon";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.StartsWith("EchoServer:DrainDelay: 'soon' is not a time span", StringComparison.Ordinal));
    }
}
