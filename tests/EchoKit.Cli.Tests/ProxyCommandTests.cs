using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary><c>echokit proxy</c> from the command line: flags, errors and exit codes, a proxy with faults through real sockets.</summary>
public class ProxyCommandTests
{
    [Fact]
    public async Task Listen_upstream_and_fault_relay_echoes_through_the_rule_and_the_API_shows_it_as_a_toxic()
    {
        var options = new EchoServerOptions();
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        await using var upstream = new EchoServer(options);
        await upstream.StartAsync();
        using var run = CliRun.Start("proxy", "--listen", "127.0.0.1:0", "--upstream", upstream.EndPoints[0].ToString()!,
            "--fault", "latency:delay=500ms,stream=upstream", "--seed", "42", "--admin", "127.0.0.1:0", "--quiet");

        var listen = IPEndPoint.Parse(await run.WaitForListenerAsync());
        var admin = IPEndPoint.Parse(await run.WaitForListenerAsync("admin"));

        Assert.InRange(await AdminRun.TimeOneEchoAsync(listen), TimeSpan.FromMilliseconds(450), CliRun.Timeout);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{admin}/"), Timeout = CliRun.Timeout };
        using var proxy = JsonDocument.Parse(await http.GetStringAsync("/proxies/proxy"));
        Assert.Equal(listen.ToString(), proxy.RootElement.GetProperty("listen").GetString());
        var toxic = Assert.Single(proxy.RootElement.GetProperty("toxics").EnumerateArray());
        Assert.Equal("""{"attributes":{"delay":"500ms"},"name":"latency_upstream","type":"echokit:latency","stream":"upstream","toxicity":1}""", toxic.GetRawText());

        // Removed over the API: the echo no longer waits.
        using var removed = await http.DeleteAsync("/proxies/proxy/toxics/latency_upstream");
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.InRange(await AdminRun.TimeOneEchoAsync(listen), TimeSpan.Zero, TimeSpan.FromMilliseconds(450));
        Assert.Equal(0, await run.StopAsync());
        Assert.Contains("Relaying to " + upstream.EndPoints[0], run.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_starts_several_named_proxies_in_Toxiproxys_format_with_their_toxics()
    {
        var options = new EchoServerOptions();
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        await using var upstream = new EchoServer(options);
        await upstream.StartAsync();
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, $$"""
                [
                  { "name": "fast", "listen": "127.0.0.1:0", "upstream": "{{upstream.EndPoints[0]}}" },
                  { "name": "slow", "listen": "127.0.0.1:0", "upstream": "{{upstream.EndPoints[0]}}",
                    "toxics": [ { "type": "latency", "attributes": { "latency": 400 } } ] },
                  { "name": "off", "listen": "127.0.0.1:0", "upstream": "{{upstream.EndPoints[0]}}", "enabled": false }
                ]
                """);
            using var run = CliRun.Start("proxy", "--config", file, "--admin", "127.0.0.1:0", "--quiet");
            var admin = IPEndPoint.Parse(await run.WaitForListenerAsync("admin"));
            using var http = new HttpClient { BaseAddress = new Uri($"http://{admin}/"), Timeout = CliRun.Timeout };
            using var proxies = JsonDocument.Parse(await http.GetStringAsync("/proxies"));
            IPEndPoint ListenOf(string name) => IPEndPoint.Parse(proxies.RootElement.GetProperty(name).GetProperty("listen").GetString()!);

            Assert.False(proxies.RootElement.GetProperty("off").GetProperty("enabled").GetBoolean());
            Assert.Equal("latency_downstream", proxies.RootElement.GetProperty("slow").GetProperty("toxics")[0].GetProperty("name").GetString());
            Assert.InRange(await AdminRun.TimeOneEchoAsync(ListenOf("fast")), TimeSpan.Zero, TimeSpan.FromMilliseconds(400));
            Assert.InRange(await AdminRun.TimeOneEchoAsync(ListenOf("slow")), TimeSpan.FromMilliseconds(400), CliRun.Timeout);
            Assert.Equal(0, await run.StopAsync());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("[{\"name\": \"a\", \"upstream\": \"127.0.0.1:9\"}, {\"name\": \"a\", \"upstream\": \"127.0.0.1:9\"}]", "the name 'a' is used twice")]
    [InlineData("{\"name\": \"a\"}", "a JSON array of proxies")]
    [InlineData("[{\"name\": \"a\", \"upstream\": \"127.0.0.1:9\", \"toxics\": [{\"type\": \"sideways\"}]}]", "invalid toxic type")]
    public async Task A_bad_config_file_changes_nothing_and_says_why_with_exit_code_2(string json, string message)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, json);
            var (exitCode, _, error) = await CliRun.RunAsync("proxy", "--config", file);
            Assert.Equal(EchoKitCommandLine.Usage, exitCode);
            Assert.Contains(message, error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_listen_address_in_use_fails_with_a_message_saying_so_and_exit_code_1()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();

        var (exitCode, _, error) = await CliRun.RunAsync("proxy", "--listen", taken.LocalEndPoint!.ToString()!, "--upstream", "127.0.0.1:9");

        Assert.Equal(EchoKitCommandLine.Failure, exitCode);
        Assert.Contains($"cannot listen on {taken.LocalEndPoint}", error, StringComparison.Ordinal);
        Assert.Contains("in use", error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("Invalid value 'nowhere' for --upstream", "proxy", "--listen", "127.0.0.1:0", "--upstream", "nowhere")]
    [InlineData("Invalid value '127.0.0.1:0' for --upstream", "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:0")]
    [InlineData("Invalid value 'lag:delay=1s' for --fault", "proxy", "--listen", "127.0.0.1:0", "--upstream", "db:5432", "--fault", "lag:delay=1s")]
    [InlineData("give --listen and --upstream for one proxy, --config for the proxies of a file, or --admin", "proxy")]
    [InlineData("--listen needs --upstream", "proxy", "--listen", "127.0.0.1:0")]
    [InlineData("--fault and --name apply to the proxy of --listen", "proxy", "--admin", "0", "--fault", "latency:delay=1s")]
    public async Task Bad_flags_are_usage_errors_naming_the_problem(string message, params string[] args)
    {
        var (exitCode, _, error) = await CliRun.RunAsync(args);

        Assert.Equal(EchoKitCommandLine.Usage, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_host_name_is_resolved_per_connection()
    {
        var options = new EchoServerOptions();
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        await using var upstream = new EchoServer(options);
        await upstream.StartAsync();
        using var run = CliRun.Start("proxy", "--listen", "127.0.0.1:0", "--upstream", $"localhost:{((IPEndPoint)upstream.EndPoints[0]).Port}", "--quiet");

        var listen = IPEndPoint.Parse(await run.WaitForListenerAsync());

        await AdminRun.TimeOneEchoAsync(listen);
        Assert.Equal(0, await run.StopAsync());
    }
}
