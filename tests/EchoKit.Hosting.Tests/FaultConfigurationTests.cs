using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary><c>Faults</c> and <c>FaultSeed</c> in configuration: the same grammar as the library's, errors naming the key and index.</summary>
public class FaultConfigurationTests
{
    [Fact]
    public void Faults_bind_from_an_array_and_the_seed_from_a_number()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Faults:0"] = "latency:delay=50ms,jitter=10ms";
        settings["EchoServer:Faults:1"] = "reset:after=2s,toxicity=0.1";
        settings["EchoServer:FaultSeed"] = "42";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();

        Assert.Equal([EchoFault.Latency(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10)), EchoFault.Reset(TimeSpan.FromSeconds(2)).WithToxicity(0.1)], options.Faults);
        Assert.Equal(42, options.FaultSeed);
    }

    [Fact]
    public void Faults_bind_from_a_JSON_file_and_from_one_string_separated_by_semicolons()
    {
        const string Json = """{ "EchoServer": { "EndPoints": [ "127.0.0.1:0" ], "Faults": [ "slice:size=1-16,delay=1ms", "refuse:mode=close" ], "FaultSeed": -7 } }""";
        var fromJson = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Json))).Build();
        var fromString = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EchoServer:EndPoints"] = "127.0.0.1:0",
            ["EchoServer:Faults"] = "slice:size=1-16,delay=1ms; refuse:mode=close",
            ["EchoServer:FaultSeed"] = "off",
        }).Build();

        foreach (var (configuration, seed) in new[] { (fromJson, (int?)-7), (fromString, null) })
        {
            var services = new ServiceCollection();
            services.AddEchoServer(configuration.GetSection("EchoServer"));
            using var provider = services.BuildServiceProvider();
            var options = provider.Options();

            Assert.Equal(["slice:size=1-16,delay=1ms", "refuse:mode=close"], options.Faults.Select(f => f.ToString()));
            Assert.Equal(seed, options.FaultSeed);
        }
    }

    [Fact]
    public async Task A_bad_rule_fails_the_start_naming_its_key_and_index_and_sets_no_rule()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Faults:0"] = "latency:delay=50ms";
        settings["EchoServer:Faults:1"] = "lag:delay=1s";
        settings["EchoServer:Faults:2"] = "latency:delay=fast";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.StartsWith("EchoServer:Faults:1: 'lag:delay=1s' is not a fault rule ('lag' is not a fault type; the types are latency, slice, limit, reset, refuse, blackhole, bandwidth, slow-close, stall-reads, corrupt, drop, duplicate, reorder, slow-open)", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("EchoServer:Faults:2: 'latency:delay=fast' is not a fault rule (latency: delay='fast' is not a time span", StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Failures, f => f.Contains("Faults:0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rule_that_fits_no_endpoint_fails_the_start_naming_it()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Faults:0"] = "refuse:on=unix";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.Contains("EchoServerOptions.Faults[0] ('refuse:on=unix') applies to no endpoint", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hosted_server_applies_the_configured_faults()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Faults:0"] = "latency:delay=200ms";
        settings["EchoServer:FaultSeed"] = "1";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        var started = Stopwatch.StartNew();
        Assert.Equal([1, 2, 3], await client.EchoAsync([1, 2, 3]));

        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
        client.Dispose();
        await host.StopAsync();
    }
}
