using System.Net;

namespace EchoKit.Tests;

public class UdpOptionsTests
{
    public static TheoryData<string, Action<EchoServerOptions>, string> InvalidOptions => new()
    {
        { "UdpEndPoints", o => o.UdpEndPoints.Add(null!), "must not contain null" },
        { "UdpEndPoints", o => { o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007)); o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007)); }, "twice" },
        { "Udp.MaxDatagramSize", o => o.Udp.MaxDatagramSize = 0, "between 1 and 65527" },
        { "Udp.MaxDatagramSize", o => o.Udp.MaxDatagramSize = 70_000, "between 1 and 65527" },
        { "Udp.DatagramsInFlight", o => o.Udp.DatagramsInFlight = 0, "between 1 and 256" },
        { "Udp.BlockedSourcePorts", o => o.Udp.BlockedSourcePorts.Add(65536), "from 0 to 65535" },
        { "Udp.PerSourceRateLimit", o => o.Udp.PerSourceRateLimit = 0, "greater than 0, or null" },
        { "Udp.MaxTrackedSources", o => o.Udp.MaxTrackedSources = 0, "between 1 and" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Invalid_udp_option_fails_fast_naming_the_option_and_rule(string option, Action<EchoServerOptions> breakIt, string rule)
    {
        var options = UdpTestHelpers.UdpOptions(breakIt);

        var ex = Assert.Throws<ArgumentException>(() => new EchoServer(options));

        Assert.Equal(option, ex.ParamName);
        Assert.Contains($"EchoServerOptions.{option} ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Udp_defaults_are_the_documented_values_and_a_udp_only_server_is_valid()
    {
        var udp = new EchoServerOptions().Udp;
        Assert.Equal(65_507, udp.MaxDatagramSize);
        Assert.Equal(4, udp.DatagramsInFlight);
        Assert.Equal(1000, udp.PerSourceRateLimit);
        Assert.Equal(4096, udp.MaxTrackedSources);
        Assert.Equal(UdpEchoOptions.DefaultBlockedSourcePorts.Order(), udp.BlockedSourcePorts.Order());
        Assert.Superset(new HashSet<int> { 0, 7, 9, 13, 17, 19, 37 }, new HashSet<int>(udp.BlockedSourcePorts));

        UdpTestHelpers.UdpOptions().Validate();
    }

    [Fact]
    public async Task Udp_options_are_copied_so_later_changes_do_not_affect_the_server()
    {
        var options = UdpTestHelpers.UdpOptions(o => o.Udp.BlockedSourcePorts.Clear());
        await using var server = new EchoServer(options);
        options.UdpEndPoints.Clear();
        options.Udp.MaxDatagramSize = -1;
        options.Udp.BlockedSourcePorts.Add(-5);

        await server.StartAsync();

        Assert.Equal(EchoTransport.Udp, Assert.Single(server.Listeners).Transport);
    }
}
