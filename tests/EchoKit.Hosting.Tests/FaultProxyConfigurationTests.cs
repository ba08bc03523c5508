using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary>
/// A fault proxy's configuration section: every key bound in the echo server's grammar, and every problem (a value
/// that does not read, a broken rule, an unknown key) failing the host's start with the key and the rule named.
/// </summary>
public class FaultProxyConfigurationTests
{
    [Fact]
    public void Every_key_binds_from_a_JSON_file()
    {
        const string Json = """
            {
              "FaultProxy": {
                "EndPoints": [ "127.0.0.1:0", "unix:/tmp/echokit-proxy-test.sock" ],
                "Listen": [ "[::1]:0" ],
                "UdpEndPoints": [ "127.0.0.1:0" ],
                "Upstream": "redis.local:6379",
                "ConnectTimeout": "2s",
                "Faults": [ "latency:delay=50ms,stream=upstream", "slice:size=1-16,delay=1ms" ],
                "FaultSeed": 42,
                "MaxConnections": 100,
                "ReceiveBufferSize": "16k",
                "IdleTimeout": "5m",
                "NoDelay": false
              }
            }
            """;
        var options = Bind(new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Json))).Build());

        Assert.Equal(
            [new IPEndPoint(IPAddress.Loopback, 0), new UnixDomainSocketEndPoint("/tmp/echokit-proxy-test.sock"), new IPEndPoint(IPAddress.IPv6Loopback, 0)],
            options.EndPoints);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 0)], options.UdpEndPoints);
        Assert.Equal(new DnsEndPoint("redis.local", 6379), options.Upstream);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ConnectTimeout);
        Assert.Equal(["latency:delay=50ms,stream=upstream", "slice:size=1-16,delay=1ms"], options.Faults.Select(f => f.ToString()));
        Assert.Equal([FaultDirection.Upstream, FaultDirection.Downstream], options.Faults.Select(f => f.Stream));
        Assert.Equal(42, options.FaultSeed);
        Assert.Equal(100, options.MaxConnections);
        Assert.Equal(16 * 1024, options.ReceiveBufferSize);
        Assert.Equal(TimeSpan.FromMinutes(5), options.IdleTimeout);
        Assert.False(options.NoDelay);
    }

    [Fact]
    public void Lists_bind_from_one_string_as_environment_variables_write_them_and_off_turns_limits_off()
    {
        var options = Bind(new Dictionary<string, string?>
        {
            ["FaultProxy:EndPoints"] = "127.0.0.1:0;[::1]:0",
            ["FaultProxy:Upstream"] = "unix:/run/postgresql/.s.PGSQL.5432",
            ["FaultProxy:Faults"] = "latency:delay=50ms,stream=upstream; reset:after=2s",
            ["FaultProxy:FaultSeed"] = "off",
            ["FaultProxy:IdleTimeout"] = "",
        });

        Assert.Equal(2, options.EndPoints.Count);
        Assert.Equal(new UnixDomainSocketEndPoint("/run/postgresql/.s.PGSQL.5432"), options.Upstream);
        Assert.Equal(["latency:delay=50ms,stream=upstream", "reset:after=2s"], options.Faults.Select(f => f.ToString()));
        Assert.Null(options.FaultSeed);
        Assert.Null(options.IdleTimeout);
    }

    [Theory]
    [InlineData("127.0.0.1:6379", "127.0.0.1:6379")]
    [InlineData("[::1]:5432", "[::1]:5432")]
    [InlineData(" localhost:6379 ", "localhost:6379")]
    [InlineData("db-1.internal.example:5432", "db-1.internal.example:5432")]
    public void Upstream_is_an_IP_endpoint_for_an_address_and_a_DNS_endpoint_for_a_name(string text, string expected)
    {
        var options = Bind(new Dictionary<string, string?> { ["FaultProxy:EndPoints:0"] = "127.0.0.1:0", ["FaultProxy:Upstream"] = text });

        Assert.Equal(expected, options.Upstream is DnsEndPoint dns ? $"{dns.Host}:{dns.Port}" : options.Upstream!.ToString());
        Assert.Equal(IPAddress.TryParse(expected.Split(':')[0].Trim('[', ']'), out _) || expected.StartsWith('['), options.Upstream is IPEndPoint);
    }

    [Fact]
    public void A_configure_action_after_the_section_overrides_its_values_and_adds_to_its_lists()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxy:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxy:Upstream"] = "127.0.0.1:6379",
            ["FaultProxy:MaxConnections"] = "5",
            ["FaultProxy:Faults:0"] = "latency:delay=1ms",
        });
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxy"), o =>
        {
            o.MaxConnections = 50;
            o.Faults.Add(EchoFault.Reset(TimeSpan.FromSeconds(1)).WithStream(FaultDirection.Upstream));
        });
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.FaultProxyOptions();

        Assert.Equal(50, options.MaxConnections);
        Assert.Equal(["latency:delay=1ms", "reset:after=1s,stream=upstream"], options.Faults.Select(f => f.ToString()));
    }

    [Theory]
    [InlineData("Upstream", "6379", "FaultProxy:Upstream: '6379' is not an upstream endpoint; write a host and port such as 127.0.0.1:6379")]
    [InlineData("Upstream", "127.0.0.1:0", "FaultProxy:Upstream: '127.0.0.1:0' is not an upstream endpoint (port 0 is for listening")]
    [InlineData("Upstream", "bad_host!:6379", "FaultProxy:Upstream: 'bad_host!:6379' is not an upstream endpoint ('bad_host!' is neither an IP address nor a host name)")]
    [InlineData("Upstream", "*:6379", "FaultProxy:Upstream: '*:6379' is not an upstream endpoint")]
    [InlineData("ConnectTimeout", "soon", "FaultProxy:ConnectTimeout: 'soon' is not a time span")]
    [InlineData("ConnectTimeout", "0s", "FaultProxyOptions.ConnectTimeout must be greater than zero")]
    [InlineData("MaxConnections", "lots", "FaultProxy:MaxConnections: 'lots' is not a whole number")]
    [InlineData("MaxConnections", "0", "FaultProxyOptions.MaxConnections must be greater than 0")]
    [InlineData("ReceiveBufferSize", "1", "FaultProxyOptions.ReceiveBufferSize must be")]
    [InlineData("IdleTimeout", "abc", "FaultProxy:IdleTimeout: 'abc' is not a time span, or off to turn it off")]
    [InlineData("NoDelay", "maybe", "FaultProxy:NoDelay: 'maybe' is not true or false")]
    [InlineData("FaultSeed", "x", "FaultProxy:FaultSeed: 'x' is not a whole number, or off to turn it off")]
    [InlineData("Faults:0", "lag:delay=1s", "FaultProxy:Faults:0: 'lag:delay=1s' is not a fault rule")]
    [InlineData("Faults:0", "latency:delay=1ms,stream=sideways", "FaultProxy:Faults:0: 'latency:delay=1ms,stream=sideways' is not a fault rule")]
    [InlineData("EndPoints:0", "nowhere", "FaultProxy:EndPoints:0: 'nowhere' is not a valid endpoint")]
    [InlineData("Listen:0", "127.0.0.1:99999", "FaultProxy:Listen:0: '127.0.0.1:99999' is not a valid endpoint")]
    public Task A_bad_value_fails_the_start_naming_its_key_and_rule(string key, string value, string expected) =>
        AssertStartFailsWithAsync(key, value, expected);

    [Fact]
    public async Task A_missing_upstream_fails_the_start_naming_the_key_to_set()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["FaultProxies:Redis:EndPoints:0"] = "127.0.0.1:0" });
        builder.Services.AddFaultProxy("redis", builder.Configuration.GetSection("FaultProxies:Redis"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Equal("redis", ex.OptionsName);
        Assert.Contains(ex.Failures, f => f.StartsWith("Fault proxy 'redis': FaultProxyOptions.Upstream is required", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Fault proxy 'redis': FaultProxies:Redis:Upstream: the server each connection is relayed to is required", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Options_set_in_code_are_validated_at_start_too()
    {
        var builder = TestHelpers.Builder();
        builder.Services.AddFaultProxy(o => o.Upstream = new IPEndPoint(IPAddress.Loopback, 6379));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.Contains("FaultProxyOptions.EndPoints", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_section_is_named()
    {
        var builder = TestHelpers.Builder();
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxi"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains("The configuration section 'FaultProxi' is missing or empty.", ex.Failures);
    }

    [Theory]
    [InlineData("Upstreem", "127.0.0.1:1", "FaultProxy:Upstreem: unknown key; did you mean 'FaultProxy:Upstream'?")]
    [InlineData("Listn:0", "127.0.0.1:0", "FaultProxy:Listn: unknown key; did you mean 'FaultProxy:Listen'?")]
    [InlineData("ConnectTimout", "1s", "FaultProxy:ConnectTimout: unknown key; did you mean 'FaultProxy:ConnectTimeout'?")]
    [InlineData("Backlog", "5", "FaultProxy:Backlog: unknown key. The keys are the FaultProxyOptions property names")]
    [InlineData("ConnectTimeout:Value", "1s", "FaultProxy:ConnectTimeout: must be one value, not a section.")]
    public Task An_unknown_key_fails_the_start_naming_it_and_the_nearest_known_key(string key, string value, string expected) =>
        AssertStartFailsWithAsync(key, value, expected);

    [Fact]
    public void Every_known_key_in_any_case_passes_the_check()
    {
        var options = Bind(new Dictionary<string, string?>
        {
            ["FaultProxy:endpoints:0"] = "127.0.0.1:0",
            ["FaultProxy:LISTEN:0"] = "127.0.0.1:0",
            ["FaultProxy:upstream"] = "127.0.0.1:6379",
            ["FaultProxy:connecttimeout"] = "1s",
            ["FaultProxy:faults:0"] = "latency:delay=1ms",
            ["FaultProxy:faultseed"] = "1",
            ["FaultProxy:maxconnections"] = "1",
            ["FaultProxy:receivebuffersize"] = "4k",
            ["FaultProxy:idletimeout"] = "1m",
            ["FaultProxy:nodelay"] = "true",
        });

        Assert.Equal(2, options.EndPoints.Count);
    }

    /// <summary>The key table of docs/HOSTING.md's "Fault proxies" section lists exactly the keys the binder reads.</summary>
    [Fact]
    public void The_documented_keys_are_the_keys_the_binder_reads()
    {
        var lines = File.ReadAllLines(FindRepositoryFile("docs/HOSTING.md"));
        var start = Array.IndexOf(lines, "## Fault proxies");
        Assert.True(start >= 0, "docs/HOSTING.md has no '## Fault proxies' section.");
        var documented = lines.Skip(start + 1).TakeWhile(l => !l.StartsWith('#'))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .Select(l => l.Split('|')[1].Trim().Trim('`'))
            .ToList();

        Assert.Equal(Hosting.Internal.FaultProxyConfigurationKeys.All.Select(k => k.Key).Order(), documented.Order());
    }

    private static string FindRepositoryFile(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EchoKit.sln")))
            {
                return Path.Combine(directory.FullName, name);
            }
        }

        throw new FileNotFoundException($"No EchoKit.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>Adds <paramref name="key"/> = <paramref name="value"/> to a valid "FaultProxy" section; the host's start fails with a failure that starts with <paramref name="expected"/>.</summary>
    private static async Task AssertStartFailsWithAsync(string key, string value, string expected)
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["FaultProxy:EndPoints:0"] = "127.0.0.1:0",
            ["FaultProxy:Upstream"] = "127.0.0.1:6379",
            [$"FaultProxy:{key}"] = value,
        });
        builder.Services.AddFaultProxy(builder.Configuration.GetSection("FaultProxy"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    /// <summary>Binds the "FaultProxy" section and builds the options as the host would, validation included.</summary>
    private static FaultProxyOptions Bind(Dictionary<string, string?> settings) =>
        Bind(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

    private static FaultProxyOptions Bind(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.AddFaultProxy(configuration.GetSection("FaultProxy"));
        using var provider = services.BuildServiceProvider();
        return provider.FaultProxyOptions();
    }
}
