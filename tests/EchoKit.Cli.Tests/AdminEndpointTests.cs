using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary><c>echokit serve --admin ENDPOINT</c>: the fault rules over HTTP, the probes, the rules on the status line.</summary>
public class AdminEndpointTests
{
    [Fact]
    public async Task Get_faults_lists_the_rules_in_force_with_the_seed()
    {
        await using var admin = await AdminServe.StartAsync("--fault-seed", "42");

        using var response = await admin.Http.GetAsync("/faults");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("[]", await response.Content.ReadAsStringAsync());
        Assert.Equal("42", Assert.Single(response.Headers.GetValues(AdminEndpoint.SeedHeader)));
        Assert.Equal("""{"seed":42}""", await admin.Http.GetStringAsync("/faults/seed"));
    }

    [Fact]
    public async Task Put_puts_rules_in_force_for_new_connections_and_delete_removes_them()
    {
        await using var admin = await AdminServe.StartAsync();
        string[] rules = ["latency:delay=1s", "limit:bytes=1MiB"];

        using var put = await admin.PutAsync("/faults", JsonSerializer.Serialize(rules));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(rules, JsonSerializer.Deserialize<string[]>(await put.Content.ReadAsStringAsync()));
        Assert.Equal(rules, JsonSerializer.Deserialize<string[]>(await admin.Http.GetStringAsync("/faults")));

        // A second of latency on every echo: generous margins either side of it for a loaded machine.
        Assert.InRange(await admin.TimeOneEchoAsync(), TimeSpan.FromMilliseconds(950), CliRun.Timeout);

        using var delete = await admin.Http.DeleteAsync("/faults");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.True(delete.Headers.Contains("EchoKit-Fault-Seed"), "the 204 carries the seed too");
        Assert.Equal("[]", await admin.Http.GetStringAsync("/faults"));
        Assert.InRange(await admin.TimeOneEchoAsync(), TimeSpan.Zero, TimeSpan.FromMilliseconds(900));
    }

    [Fact]
    public async Task Post_adds_one_rule_after_the_others()
    {
        await using var admin = await AdminServe.StartAsync("--fault", "latency:delay=10ms");

        using var post = await admin.PutAsync("/faults", "\"limit:bytes=1KiB\"", HttpMethod.Post);

        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(["latency:delay=10ms", "limit:bytes=1KiB"], JsonSerializer.Deserialize<string[]>(await post.Content.ReadAsStringAsync())!);
        using var bad = await admin.PutAsync("/faults", "\"lag\"", HttpMethod.Post);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.True(bad.Headers.Contains("EchoKit-Fault-Seed"), "the 400 carries the seed too");
        using (var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()))
        {
            Assert.False(problem.RootElement.TryGetProperty("index", out _), "a POST's 400 has no index");
            Assert.Equal("lag", problem.RootElement.GetProperty("rule").GetString());
        }

        Assert.Equal(2, JsonSerializer.Deserialize<string[]>(await admin.Http.GetStringAsync("/faults"))!.Length);
    }

    [Fact]
    public async Task Put_with_a_bad_rule_is_a_400_naming_its_index_and_error_and_changes_nothing()
    {
        await using var admin = await AdminServe.StartAsync("--fault", "latency:delay=10ms");

        using var response = await admin.PutAsync("/faults", """["limit:bytes=8", "lag:delay=1s", "slice:size=zero"]""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = problem.RootElement;
        Assert.Equal(400, root.GetProperty("status").GetInt32());
        Assert.Equal(1, root.GetProperty("index").GetInt32());
        Assert.Equal("lag:delay=1s", root.GetProperty("rule").GetString());
        Assert.StartsWith("'lag' is not a fault type; the types are latency,", root.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("rule 1 ('lag:delay=1s'): 'lag' is not a fault type", root.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("""["latency:delay=10ms"]""", await admin.Http.GetStringAsync("/faults"));
    }

    [Theory]
    [InlineData("{", "Not JSON", "the body is not JSON")]
    [InlineData("", "Not JSON", "the body is not JSON")]
    [InlineData("""{"a":1}""", "Not a list of rules", "the body must be a JSON array of rule strings")]
    [InlineData("\"latency:delay=1s\"", "Not a list of rules", "it is a string")]
    [InlineData("[1]", "Invalid fault rule", "rule 0: a rule is a JSON string")]
    public async Task Put_with_a_body_that_is_not_a_JSON_array_of_strings_is_a_400_saying_so(string body, string title, string detail)
    {
        await using var admin = await AdminServe.StartAsync("--fault", "latency:delay=10ms");

        using var response = await admin.PutAsync("/faults", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(title, problem.RootElement.GetProperty("title").GetString());
        Assert.Contains(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("""["latency:delay=10ms"]""", await admin.Http.GetStringAsync("/faults"));
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/nope")]
    [InlineData("/faults/0")]
    [InlineData("/metrics/x")]
    public async Task Any_other_path_is_a_404(string path)
    {
        await using var admin = await AdminServe.StartAsync();

        using var response = await admin.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Healthz_and_readyz_answer_200_with_the_statistics_while_serving()
    {
        await using var admin = await AdminServe.StartAsync();
        await admin.TimeOneEchoAsync();

        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            using var response = await admin.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("serving", body.RootElement.GetProperty("status").GetString());
            Assert.Equal(1, body.RootElement.GetProperty("acceptedConnections").GetInt64());
            Assert.True(body.RootElement.GetProperty("bytesSent").GetInt64() >= 4);
            Assert.True(body.RootElement.TryGetProperty("activeConnections", out _));
        }
    }

    [Fact]
    public async Task Metrics_are_the_EchoKit_meter_in_Prometheus_text()
    {
        await using var admin = await AdminServe.StartAsync("--fault", "latency:delay=1ms");
        await admin.TimeOneEchoAsync();

        using var response = await admin.Http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE echokit_bytes_sent_bytes_total counter", text, StringComparison.Ordinal);

        // Other tests' servers share this process and the meter's name: find this one's series by its port.
        var port = $"server_port=\"{admin.Tcp.Port}\"";
        Assert.Contains(text.Split('\n'), line => line.StartsWith("echokit_bytes_sent_bytes_total{", StringComparison.Ordinal) && line.Contains(port, StringComparison.Ordinal) && line.EndsWith("} 4", StringComparison.Ordinal));
        Assert.Contains(text.Split('\n'), line => line.StartsWith("echokit_faults_applied_total{", StringComparison.Ordinal) && line.Contains("fault_type=\"latency\"", StringComparison.Ordinal) && line.Contains(port, StringComparison.Ordinal));
        Assert.Contains("service_name=\"echokit\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_status_line_shows_the_rules_and_follows_admin_changes_at_once()
    {
        // An interval far longer than the test: every status line comes from a change of the rules.
        await using var admin = await AdminServe.StartAsync(["--fault", "latency:delay=10ms", "--status-interval", "1h"], quiet: false);

        using var put = await admin.PutAsync("/faults", """["reset:after=2s", "slice:size=1"]""");
        await AdminEndpointTests.WaitForAsync(() => admin.Run.Output.Text.Contains("| faults: reset:after=2s; slice:size=1", StringComparison.Ordinal));
        using var delete = await admin.Http.DeleteAsync("/faults");
        await AdminEndpointTests.WaitForAsync(() => admin.Run.Output.Text.Contains("| faults: none", StringComparison.Ordinal));

        var lines = admin.Run.Output.Text.Split('\n').Where(l => l.StartsWith("up ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);   // one line per change, none from the timer
        Assert.All(lines, line => Assert.Contains(" | 0 rejected | ", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_admin_or_rules_the_status_line_has_no_faults()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--status-interval", "50ms");
        await serve.WaitForListenerAsync();
        await WaitForAsync(() => serve.Output.Text.Contains("up ", StringComparison.Ordinal));

        Assert.Equal(0, await serve.StopAsync());
        Assert.DoesNotContain("faults:", serve.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_status_line_too_wide_for_the_terminal_is_cut_with_an_ellipsis()
    {
        EchoFault[] rules = [EchoFault.Parse("latency:delay=50ms"), EchoFault.Parse("reset:after=2s")];

        Assert.Equal("up | faults: latency:delay=50ms; reset:after=2s", StatusLine.Compose("up", rules, interactive: true, width: 80));
        Assert.Equal("up | faults: latency:de…", StatusLine.Compose("up", rules, interactive: true, width: 25));
        Assert.Equal("up | faults: none", StatusLine.Compose("up", [], interactive: false, width: 10));
        var many = Enumerable.Range(1, 40).Select(i => EchoFault.Parse($"latency:delay={i}ms")).ToArray();
        var faults = StatusLine.Faults(many);
        Assert.Equal(StatusLine.MaxFaultsLength, faults.Length);
        Assert.EndsWith("…", faults, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("9901", "127.0.0.1:9901")]
    [InlineData(":0", "127.0.0.1:0")]
    [InlineData("127.0.0.1:9901", "127.0.0.1:9901")]
    [InlineData("localhost:9901", "127.0.0.1:9901")]
    [InlineData("[::1]:9901", "[::1]:9901")]
    [InlineData("0.0.0.0:9901", "0.0.0.0:9901")]
    public void An_admin_endpoint_without_a_host_is_loopback(string text, string expected)
    {
        Assert.True(AdminEndpoint.TryParseEndPoint(text, out var endPoint, out _));
        Assert.Equal(IPEndPoint.Parse(expected), endPoint);
    }

    [Theory]
    [InlineData("Invalid value 'abc' for --admin: not an admin endpoint; write 127.0.0.1:9901, [::1]:9901 or a port alone for loopback.", "abc")]
    [InlineData("Invalid value 'unix:/tmp/a' for --admin: IP endpoints only;", "unix:/tmp/a")]
    [InlineData("Invalid value '127.0.0.1:99999' for --admin: '99999' is not a port", "127.0.0.1:99999")]
    public async Task A_bad_admin_endpoint_is_a_parse_error_naming_the_flag(string expected, string value)
    {
        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--tcp", "127.0.0.1:0", "--admin", value);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_endpoint_in_use_fails_the_start_before_anything_listens()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();

        var (exitCode, output, error) = await CliRun.RunAsync("serve", "--tcp", "127.0.0.1:0", "--admin", taken.LocalEndPoint!.ToString()!);

        Assert.Equal(1, exitCode);
        Assert.Contains($"echokit serve: failed to start the admin endpoint on {taken.LocalEndPoint}", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening on", output, StringComparison.Ordinal);
        Assert.True(error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length == 1, $"not one line: {error}");
    }

    internal static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < CliRun.Timeout, "the condition did not hold in time");
            await Task.Delay(20);
        }
    }
}

/// <summary>An in-process <c>echokit serve --tcp 127.0.0.1:0 --admin 127.0.0.1:0</c> with an HTTP client on its admin endpoint.</summary>
internal sealed class AdminServe : AdminRun
{
    private AdminServe(CliRun serve, IPEndPoint tcp, IPEndPoint admin)
        : base(serve, admin)
    {
        Tcp = tcp;
    }

    public IPEndPoint Tcp { get; }

    public static Task<AdminServe> StartAsync(params string[] args) => StartAsync(args, quiet: true);

    public static async Task<AdminServe> StartAsync(string[] args, bool quiet)
    {
        var serve = CliRun.Start(["serve", "--tcp", "127.0.0.1:0", "--admin", "127.0.0.1:0", .. args, .. quiet ? new[] { "--quiet" } : []]);
        try
        {
            var tcp = IPEndPoint.Parse(await serve.WaitForListenerAsync());
            var admin = IPEndPoint.Parse(await serve.WaitForListenerAsync("admin"));
            return new AdminServe(serve, tcp, admin);
        }
        catch
        {
            serve.Dispose();
            throw;
        }
    }

    public async Task<HttpResponseMessage> PutAsync(string path, string json, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Put, path)
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        return await Http.SendAsync(request);
    }

    /// <summary>Connects to the server's TCP listener, sends 4 bytes and times until they are back.</summary>
    public Task<TimeSpan> TimeOneEchoAsync() => TimeOneEchoAsync(Tcp);
}
