using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

public class OptionsValidationTests
{
    public static TheoryData<string, Action<EchoServerOptions>, string> InvalidOptions => new()
    {
        { "EndPoints", o => o.EndPoints.Clear(), "at least one endpoint" },
        { "EndPoints", o => o.EndPoints.Add(new DnsEndPoint("localhost", 7)), "only IPEndPoint or UnixDomainSocketEndPoint" },
        { "EndPoints", o => o.EndPoints.Add(null!), "must not contain null" },
        { "EndPoints", o => { o.EndPoints.Clear(); o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007)); o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007)); }, "twice" },
        { "Backlog", o => o.Backlog = 0, "greater than 0" },
        { "MaxConnections", o => o.MaxConnections = -1, "greater than 0" },
        { "ReceiveBufferSize", o => o.ReceiveBufferSize = 10, "between 64 and 16777216" },
        { "ReceiveBufferSize", o => o.ReceiveBufferSize = int.MaxValue, "between 64 and 16777216" },
        { "IdleTimeout", o => o.IdleTimeout = TimeSpan.Zero, "greater than zero" },
        { "IdleTimeout", o => o.IdleTimeout = TimeSpan.FromSeconds(-1), "greater than zero" },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.FromSeconds(-1), "zero or greater" },
        { "SendTimeout", o => o.SendTimeout = TimeSpan.Zero, "greater than zero" },
        { "MaxConnectionLifetime", o => o.MaxConnectionLifetime = TimeSpan.FromSeconds(-3), "greater than zero" },
        { "MaxBytesPerConnection", o => o.MaxBytesPerConnection = 0, "greater than 0" },
        { "MaxConnectionsPerAddress", o => o.MaxConnectionsPerAddress = 0, "greater than 0" },
        { "MaxConnectionRate", o => o.MaxConnectionRate = -1, "greater than 0" },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.MaxValue, "at most" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Invalid_option_fails_fast_naming_the_option_and_rule(string option, Action<EchoServerOptions> breakIt, string rule)
    {
        var options = TestHelpers.LoopbackOptions(breakIt);

        var ex = Assert.Throws<ArgumentException>(() => new EchoServer(options));

        Assert.Equal(option, ex.ParamName);
        Assert.Contains($"EchoServerOptions.{option}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_invalid_options_are_all_reported()
    {
        var options = TestHelpers.LoopbackOptions(o => { o.Backlog = -5; o.ReceiveBufferSize = 1; });

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("Backlog", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ReceiveBufferSize", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_valid_and_documented_values()
    {
        var options = new EchoServerOptions();
        Assert.Equal(512, options.Backlog);
        Assert.Equal(10_000, options.MaxConnections);
        Assert.Equal(65536, options.ReceiveBufferSize);
        Assert.Null(options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.SendTimeout);
        Assert.Null(options.MaxConnectionLifetime);
        Assert.Null(options.MaxBytesPerConnection);
        Assert.Null(options.MaxConnectionsPerAddress);
        Assert.Null(options.MaxConnectionRate);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ShutdownTimeout);
        Assert.True(options.NoDelay);
        Assert.False(options.KeepAlive);
        Assert.True(options.DualMode);
        Assert.True(options.WaitForDataBeforeAllocatingBuffer);
        options.EndPoints.Add(new UnixDomainSocketEndPoint("/tmp/echokit-valid.sock"));
        options.Validate();
    }

    [Fact]
    public async Task Options_are_copied_so_later_changes_do_not_affect_the_server()
    {
        var options = TestHelpers.LoopbackOptions();
        await using var server = new EchoServer(options);
        options.EndPoints.Clear();
        options.Backlog = -1;

        await server.StartAsync();

        Assert.Single(server.EndPoints);
    }

    [Fact]
    public void Null_options_throw_ArgumentNullException() =>
        Assert.Throws<ArgumentNullException>("options", () => new EchoServer(null!));
}
