using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary>
/// Configuration values are read with the grammar of the <c>echokit</c> flags (src/Shared/ValueGrammar.cs): units,
/// <c>off</c>, host shorthands; and what configuration read before (time spans, empty for off, plain numbers) still reads.
/// </summary>
public class ValueGrammarConfigurationTests
{
    [Theory]
    [InlineData("00:00:30", 30_000)]
    [InlineData("00:00:02.5", 2_500)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("250ms", 250)]
    [InlineData("5", 5_000)]
    [InlineData("1h", 3_600_000)]
    public void Durations_take_units_bare_seconds_and_time_spans(string text, int milliseconds)
    {
        var options = Bind(("IdleTimeout", text), ("ShutdownTimeout", text), ("Tls:HandshakeTimeout", text));

        var expected = TimeSpan.FromMilliseconds(milliseconds);
        Assert.Equal((expected, expected, expected), (options.IdleTimeout, options.ShutdownTimeout, options.Tls.HandshakeTimeout));
    }

    [Theory]
    [InlineData("")]
    [InlineData("off")]
    [InlineData("OFF")]
    [InlineData("none")]
    [InlineData("never")]
    public void Limits_turn_off_with_off_or_empty(string text)
    {
        var options = Bind(("SendTimeout", text), ("MaxBytesPerConnection", text), ("MaxConnectionRate", text), ("Udp:PerSourceRateLimit", text));

        Assert.Equal<object?>([null, null, null, null], [options.SendTimeout, options.MaxBytesPerConnection, options.MaxConnectionRate, options.Udp.PerSourceRateLimit]);
    }

    [Theory]
    [InlineData("16384", 16_384)]
    [InlineData("16k", 16_384)]
    [InlineData("16KiB", 16_384)]
    [InlineData("1MiB", 1 << 20)]
    public void Sizes_take_binary_units_or_plain_bytes(string text, int bytes)
    {
        var options = Bind(("ReceiveBufferSize", text), ("MaxBytesPerConnection", text));

        Assert.Equal((bytes, (long?)bytes), (options.ReceiveBufferSize, options.MaxBytesPerConnection));
    }

    [Fact]
    public void Endpoints_take_the_shorthands_of_the_flags()
    {
        var options = Bind(("EndPoints:0", "localhost:7007"), ("EndPoints:1", "7008"), ("UdpEndPoints", "*:7009,[::1]:0"));

        var any = Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        Assert.Equal<EndPoint>([new IPEndPoint(IPAddress.Loopback, 7007), new IPEndPoint(any, 7008)], options.EndPoints);
        Assert.Equal<IPEndPoint>([new IPEndPoint(any, 7009), new IPEndPoint(IPAddress.IPv6Loopback, 0)], options.UdpEndPoints);
    }

    [Fact]
    public void BlockedSourcePorts_none_clears_the_list()
    {
        Assert.Empty(Bind(("Udp:BlockedSourcePorts", "none")).Udp.BlockedSourcePorts);
    }

    [Fact]
    public async Task A_bad_unit_names_the_key_and_how_to_write_the_value()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:ReceiveBufferSize"] = "64 parsecs";
        settings["EchoServer:MaxConnectionLifetime"] = "1.5 fortnights";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains("EchoServer:ReceiveBufferSize: '64 parsecs' is not a size; write bytes (65536) or a number with a binary unit (4k, 64KiB, 1m, 1g).", ex.Failures);
        Assert.Contains(
            "EchoServer:MaxConnectionLifetime: '1.5 fortnights' is not a time span, or off to turn it off; write 30s, 5m, 1.5s, 250ms or 00:05:00 (a bare number is seconds).",
            ex.Failures);
    }

    private static EchoServerOptions Bind(params (string Key, string Value)[] settings)
    {
        var values = TestHelpers.LoopbackSettings();
        foreach (var (key, value) in settings)
        {
            values[$"EchoServer:{key}"] = value;
        }

        var builder = TestHelpers.Builder(values);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();
        return provider.Options();
    }
}
