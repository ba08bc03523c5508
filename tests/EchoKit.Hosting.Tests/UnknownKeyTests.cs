using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary>A misspelled key fails the start naming it and the nearest known key; it is never dropped in silence.</summary>
public class UnknownKeyTests
{
    [Theory]
    [InlineData("MaxConection", "5", "EchoServer:MaxConection: unknown key; did you mean 'EchoServer:MaxConnections'?")]
    [InlineData("EndPoint:0", "127.0.0.1:0", "EchoServer:EndPoint: unknown key; did you mean 'EchoServer:EndPoints'?")]
    [InlineData("udp:MaxDatagramSise", "1500", "EchoServer:udp:MaxDatagramSise: unknown key; did you mean 'EchoServer:Udp:MaxDatagramSize'?")]
    [InlineData("Tls:Certifcate:Path", "x.pfx", "EchoServer:Tls:Certifcate: unknown key; did you mean 'EchoServer:Tls:Certificate'?")]
    [InlineData("Tls:Certificate:Passwrd", "x", "EchoServer:Tls:Certificate:Passwrd: unknown key; did you mean 'EchoServer:Tls:Certificate:Password'?")]
    [InlineData("Colour", "blue", "EchoServer:Colour: unknown key. The keys are the EchoServerOptions property names")]
    [InlineData("MaxConnections:Value", "5", "EchoServer:MaxConnections: must be one value, not a section.")]
    public async Task An_unknown_key_fails_the_start_naming_it_and_the_nearest_known_key(string key, string value, string expected)
    {
        var settings = TestHelpers.LoopbackSettings();
        settings[$"EchoServer:{key}"] = value;
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_known_key_in_any_case_passes_the_check()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServer:endpoints:0"] = "127.0.0.1:0",
            ["EchoServer:UDP:MAXDATAGRAMSIZE"] = "1500",
            ["EchoServer:ProxyProtocol:Enabled"] = "true",
            ["EchoServer:ProxyProtocol:TrustedNetworks:0"] = "127.0.0.0/8",
            ["EchoServer:Faults:0"] = "latency:delay=1ms",
            ["EchoServer:DrainDelay"] = "1s",
            ["EchoServer:Tls:Certificate:Path"] = "",
            ["EchoServer:Tls:Certificate:KeyPath"] = "",
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();

        Assert.Equal(1500, options.Udp.MaxDatagramSize);
        Assert.True(options.ProxyProtocol.Enabled);
    }

    [Fact]
    public void A_root_configuration_is_not_checked_because_it_holds_the_hosts_other_settings()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EndPoints:0"] = "127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Information",
        });
        builder.Services.AddEchoServer(builder.Configuration);
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Single(provider.Options().EndPoints);
    }
}
