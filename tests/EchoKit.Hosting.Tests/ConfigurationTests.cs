using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

public class ConfigurationTests
{
    [Fact]
    public void Every_key_binds_from_configuration_strings()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServer:EndPoints:0"] = "127.0.0.1:7007",
            ["EchoServer:EndPoints:1"] = "[::]:7007",
            ["EchoServer:EndPoints:2"] = "[::1]:0",
            ["EchoServer:EndPoints:3"] = "0.0.0.0:0",
            ["EchoServer:EndPoints:4"] = "unix:/tmp/echo.sock",
            ["EchoServer:DualMode"] = "false",
            ["EchoServer:Backlog"] = "64",
            ["EchoServer:MaxConnections"] = "100",
            ["EchoServer:ReceiveBufferSize"] = "16384",
            ["EchoServer:WaitForDataBeforeAllocatingBuffer"] = "False",
            ["EchoServer:IdleTimeout"] = "00:00:30",
            ["EchoServer:ShutdownTimeout"] = "00:00:02.5",
            ["EchoServer:NoDelay"] = "false",
            ["EchoServer:KeepAlive"] = "true",
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();

        Assert.Equal<EndPoint>(
            [
                new IPEndPoint(IPAddress.Loopback, 7007),
                new IPEndPoint(IPAddress.IPv6Any, 7007),
                new IPEndPoint(IPAddress.IPv6Loopback, 0),
                new IPEndPoint(IPAddress.Any, 0),
                new UnixDomainSocketEndPoint("/tmp/echo.sock"),
            ],
            options.EndPoints);
        Assert.False(options.DualMode);
        Assert.Equal(64, options.Backlog);
        Assert.Equal(100, options.MaxConnections);
        Assert.Equal(16384, options.ReceiveBufferSize);
        Assert.False(options.WaitForDataBeforeAllocatingBuffer);
        Assert.Equal(TimeSpan.FromSeconds(30), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.ShutdownTimeout);
        Assert.False(options.NoDelay);
        Assert.True(options.KeepAlive);
    }

    [Fact]
    public void Keys_missing_from_the_section_keep_their_defaults_and_key_names_ignore_case()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["echoserver:endpoints:0"] = "127.0.0.1:0",
            ["echoserver:maxconnections"] = "3",
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();
        var defaults = new EchoServerOptions();

        Assert.Equal(3, options.MaxConnections);
        Assert.Equal(
            (defaults.Backlog, defaults.ReceiveBufferSize, defaults.IdleTimeout, defaults.ShutdownTimeout, defaults.NoDelay, defaults.KeepAlive, defaults.DualMode),
            (options.Backlog, options.ReceiveBufferSize, options.IdleTimeout, options.ShutdownTimeout, options.NoDelay, options.KeepAlive, options.DualMode));
    }

    [Fact]
    public void EndPoints_may_be_one_string_separated_by_semicolons_as_from_an_environment_variable()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:EndPoints"] = "127.0.0.1:7007; [::1]:7007;unix:/tmp/e.sock" });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Equal<EndPoint>(
            [new IPEndPoint(IPAddress.Loopback, 7007), new IPEndPoint(IPAddress.IPv6Loopback, 7007), new UnixDomainSocketEndPoint("/tmp/e.sock")],
            provider.Options().EndPoints);
    }

    [Fact]
    public void An_empty_IdleTimeout_turns_it_off()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:EndPoints:0"] = "127.0.0.1:0", ["EchoServer:IdleTimeout"] = "" });
        builder.Services.AddEchoServer(o => o.IdleTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Null(provider.Options().IdleTimeout);
    }

    [Theory]
    [InlineData("Backlog", "-1", "EchoServerOptions.Backlog must be greater than 0 (was -1).")]
    [InlineData("ReceiveBufferSize", "10", "EchoServerOptions.ReceiveBufferSize must be between 64")]
    [InlineData("EndPoints:0", "not-an-endpoint", "EchoServer:EndPoints:0: 'not-an-endpoint' is not a valid endpoint")]
    [InlineData("EndPoints:0", "127.0.0.1", "EchoServer:EndPoints:0: '127.0.0.1' is not a valid endpoint")]
    [InlineData("EndPoints:0", "::1:7007", "EchoServer:EndPoints:0: '::1:7007' is not a valid endpoint")]
    [InlineData("EndPoints:0", "127.0.0.1:70000", "EchoServer:EndPoints:0: '127.0.0.1:70000' is not a valid endpoint")]
    [InlineData("EndPoints:0", "unix:", "EchoServer:EndPoints:0: 'unix:' is not a valid endpoint (a unix: endpoint needs a socket path")]
    [InlineData("EndPoints", "host.example:7007", "EchoServer:EndPoints: 'host.example:7007' is not a valid endpoint")]
    [InlineData("IdleTimeout", "abc", "EchoServer:IdleTimeout: 'abc' is not a time span")]
    [InlineData("IdleTimeout", "00:00:00", "EchoServerOptions.IdleTimeout must be greater than zero")]
    [InlineData("ShutdownTimeout", "5d", "EchoServer:ShutdownTimeout: '5d' is not a time span; write 30s, 5m, 1.5s, 250ms or 00:05:00")]
    [InlineData("MaxConnections", "lots", "EchoServer:MaxConnections: 'lots' is not a whole number.")]
    [InlineData("MaxConnections", "99999999999", "EchoServer:MaxConnections: '99999999999' is not a whole number.")]
    [InlineData("NoDelay", "yes", "EchoServer:NoDelay: 'yes' is not true or false.")]
    public async Task An_invalid_value_fails_the_host_start_with_a_message_naming_the_key(string key, string value, string expected)
    {
        var settings = key.StartsWith("EndPoints", StringComparison.Ordinal) ? [] : TestHelpers.LoopbackSettings();
        settings[$"EchoServer:{key}"] = value;
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal(Options.DefaultName, ex.OptionsName);
        Assert.Equal(typeof(EchoServerOptions), ex.OptionsType);
    }

    [Fact]
    public async Task Every_problem_is_reported_at_once()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServer:EndPoints:0"] = "not-an-endpoint",
            ["EchoServer:Backlog"] = "-1",
            ["EchoServer:IdleTimeout"] = "abc",
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.Contains("EchoServer:EndPoints:0", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("EchoServer:IdleTimeout", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("EchoServerOptions.Backlog", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_endpoint_fails_the_start_and_a_missing_section_is_named()
    {
        var builder = TestHelpers.Builder(TestHelpers.LoopbackSettings());
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoSrever"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains("EchoServerOptions.EndPoints must contain at least one endpoint", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'EchoSrever' is missing or empty", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_options_set_in_code_fail_the_start_too()
    {
        var builder = TestHelpers.Builder();
        builder.Services.AddEchoServer(o =>
        {
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.ShutdownTimeout = TimeSpan.FromSeconds(-1);
        });

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains("EchoServerOptions.ShutdownTimeout must be zero or greater", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_servers_validation_error_names_the_server_and_no_server_is_started()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServers:Good:EndPoints:0"] = "127.0.0.1:0",
            ["EchoServers:Bad:EndPoints:0"] = "127.0.0.1:0",
            ["EchoServers:Bad:MaxConnections"] = "0",
        });
        builder.Services.AddEchoServer("good", builder.Configuration.GetSection("EchoServers:Good"));
        builder.Services.AddEchoServer("bad", builder.Configuration.GetSection("EchoServers:Bad"));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal("bad", ex.OptionsName);
        Assert.Contains("Echo server 'bad': EchoServerOptions.MaxConnections must be greater than 0 (was 0).", ex.Message, StringComparison.Ordinal);
        Assert.Empty(host.Services.GetRequiredKeyedService<EchoServer>("good").EndPoints);
    }

    [Fact]
    public void Options_of_other_names_are_not_validated()
    {
        var services = new ServiceCollection();
        services.AddEchoServer("used", o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));
        using var provider = services.BuildServiceProvider();

        var unused = provider.Options("unused");

        Assert.Empty(unused.EndPoints);
    }
}
