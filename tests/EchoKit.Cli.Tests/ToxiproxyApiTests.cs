using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit proxy --admin</c>'s Toxiproxy API over HTTP: the status codes, error bodies and field names of Toxiproxy
/// 2.x's api.go (201 create, 200 toxic create, 204 delete and reset, <c>{"error", "status"}</c> on failure).
/// </summary>
public class ToxiproxyApiTests
{
    [Fact]
    public async Task Creating_a_proxy_answers_201_with_its_real_port_and_a_duplicate_name_409()
    {
        await using var daemon = await ProxyDaemon.StartAsync();

        var (status, body) = await daemon.SendAsync("/proxies", $$"""{"name":"echo","listen":"127.0.0.1:0","upstream":"{{daemon.UpstreamText}}"}""");

        Assert.Equal(HttpStatusCode.Created, status);
        using var proxy = JsonDocument.Parse(body);
        var root = proxy.RootElement;
        Assert.Equal(["name", "listen", "upstream", "enabled", "toxics"], root.EnumerateObject().Select(p => p.Name));
        var listen = IPEndPoint.Parse(root.GetProperty("listen").GetString()!);
        Assert.NotEqual(0, listen.Port);
        Assert.Equal(daemon.UpstreamText, root.GetProperty("upstream").GetString());
        Assert.True(root.GetProperty("enabled").GetBoolean());
        Assert.Equal(0, root.GetProperty("toxics").GetArrayLength());
        await AdminRun.TimeOneEchoAsync(listen);

        var duplicate = await daemon.SendAsync("/proxies", $$"""{"name":"echo","listen":"127.0.0.1:0","upstream":"{{daemon.UpstreamText}}"}""");
        Assert.Equal((HttpStatusCode.Conflict, """{"error":"proxy already exists","status":409}"""), duplicate);

        using var all = JsonDocument.Parse(await daemon.Http.GetStringAsync("/proxies"));
        Assert.Equal(listen.ToString(), all.RootElement.GetProperty("echo").GetProperty("listen").GetString());
    }

    [Theory]
    [InlineData("""{"listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}""", "missing required field: name")]
    [InlineData("""{"name":"x","listen":"127.0.0.1:0"}""", "missing required field: upstream")]
    [InlineData("""{"name":"x","listen":"127.0.0.1:0","upstream":"nowhere"}""", "bad request body: upstream: 'nowhere' is not an upstream address")]
    [InlineData("""{"name":"x","listen":"somewhere:0","upstream":"127.0.0.1:1"}""", "bad request body: listen: 'somewhere:0' is not a listen address")]
    [InlineData("""{"name":5,"upstream":"127.0.0.1:1"}""", "bad request body: name must be a string")]
    [InlineData("{", "bad request body: not JSON")]
    public async Task A_bad_proxy_body_is_a_400_in_Toxiproxys_words(string body, string error)
    {
        await using var daemon = await ProxyDaemon.StartAsync();

        var (status, answer) = await daemon.SendAsync("/proxies", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        using var json = JsonDocument.Parse(answer);
        Assert.StartsWith(error, json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(400, json.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("{}", await daemon.Http.GetStringAsync("/proxies"));
    }

    [Fact]
    public async Task A_listen_address_in_use_is_a_500_naming_it_and_adds_no_proxy()
    {
        await using var daemon = await ProxyDaemon.StartAsync();
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();

        var (status, body) = await daemon.SendAsync("/proxies", $$"""{"name":"echo","listen":"{{taken.LocalEndPoint}}","upstream":"{{daemon.UpstreamText}}"}""");

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.Contains($"cannot listen on {taken.LocalEndPoint}", body, StringComparison.Ordinal);
        Assert.Equal("{}", await daemon.Http.GetStringAsync("/proxies"));
    }

    [Fact]
    public async Task Unknown_proxies_and_toxics_are_404s_with_Toxiproxys_error_body()
    {
        await using var daemon = await ProxyDaemon.StartAsync();
        await daemon.SendAsync("/proxies", $$"""{"name":"echo","upstream":"{{daemon.UpstreamText}}"}""");
        var proxyNotFound = (HttpStatusCode.NotFound, """{"error":"proxy not found","status":404}""");

        Assert.Equal(proxyNotFound, await daemon.SendAsync("/proxies/nope", method: HttpMethod.Get));
        Assert.Equal(proxyNotFound, await daemon.SendAsync("/proxies/nope", "{}"));
        Assert.Equal(proxyNotFound, await daemon.SendAsync("/proxies/nope", method: HttpMethod.Delete));
        Assert.Equal(proxyNotFound, await daemon.SendAsync("/proxies/nope/toxics", method: HttpMethod.Get));
        Assert.Equal(proxyNotFound, await daemon.SendAsync("/proxies/nope/toxics", """{"type":"latency"}"""));
        var toxicNotFound = (HttpStatusCode.NotFound, """{"error":"toxic not found","status":404}""");
        Assert.Equal(toxicNotFound, await daemon.SendAsync("/proxies/echo/toxics/nope", method: HttpMethod.Get));
        Assert.Equal(toxicNotFound, await daemon.SendAsync("/proxies/echo/toxics/nope", "{}"));
        Assert.Equal(toxicNotFound, await daemon.SendAsync("/proxies/echo/toxics/nope", method: HttpMethod.Delete));
    }

    [Fact]
    public async Task Toxics_get_Toxiproxys_default_name_fields_and_attributes_and_a_duplicate_is_a_409()
    {
        await using var daemon = await ProxyDaemon.StartAsync();
        await daemon.SendAsync("/proxies", $$"""{"name":"echo","upstream":"{{daemon.UpstreamText}}"}""");

        var created = await daemon.SendAsync("/proxies/echo/toxics", """{"type":"latency","attributes":{"latency":50}}""");
        var upstream = await daemon.SendAsync("/proxies/echo/toxics", """{"type":"slicer","stream":"UPSTREAM","toxicity":0.5,"attributes":{"average_size":8,"delay":10}}""");
        var duplicate = await daemon.SendAsync("/proxies/echo/toxics", """{"type":"latency"}""");
        var updated = await daemon.SendAsync("/proxies/echo/toxics/latency_downstream", """{"attributes":{"jitter":5}}""");

        Assert.Equal((HttpStatusCode.OK, """{"attributes":{"latency":50,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"""), created);
        Assert.Equal((HttpStatusCode.OK, """{"attributes":{"average_size":8,"size_variation":0,"delay":10},"name":"slicer_upstream","type":"slicer","stream":"upstream","toxicity":0.5}"""), upstream);
        Assert.Equal((HttpStatusCode.Conflict, """{"error":"toxic already exists","status":409}"""), duplicate);
        Assert.Equal((HttpStatusCode.OK, """{"attributes":{"latency":50,"jitter":5},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"""), updated);
        using var toxics = JsonDocument.Parse(await daemon.Http.GetStringAsync("/proxies/echo/toxics"));
        Assert.Equal(["latency_downstream", "slicer_upstream"], toxics.RootElement.EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        Assert.Equal(HttpStatusCode.NoContent, (await daemon.SendAsync("/proxies/echo/toxics/latency_downstream", method: HttpMethod.Delete)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await daemon.SendAsync("/reset")).Status);
        Assert.Equal("[]", await daemon.Http.GetStringAsync("/proxies/echo/toxics"));
    }

    [Theory]
    [InlineData("""{"type":"latency","stream":"sideways"}""", "stream was invalid, can be either upstream or downstream")]
    [InlineData("""{"type":"lag"}""", "invalid toxic type: 'lag'")]
    [InlineData("""{"stream":"upstream"}""", "invalid toxic type: ''")]
    [InlineData("""{"type":"latency","attributes":{"latency":"50ms"}}""", "bad request body: latency: attribute 'latency' must be a whole number")]
    [InlineData("""{"type":"latency","attributes":{"latncy":50}}""", "bad request body: latency has no attribute 'latncy'")]
    [InlineData("""{"type":"latency","attributes":{"latency":-1}}""", "bad request body: latency: latency must be zero or more")]
    [InlineData("""{"type":"latency","toxicity":2}""", "bad request body: latency: The fault's toxicity")]
    [InlineData("""{"type":"corrupt","attributes":{"every":"often"}}""", "bad request body: corrupt: every='often'")]
    public async Task A_bad_toxic_is_a_400_saying_why(string body, string error)
    {
        await using var daemon = await ProxyDaemon.StartAsync();
        await daemon.SendAsync("/proxies", $$"""{"name":"echo","upstream":"{{daemon.UpstreamText}}"}""");

        var (status, answer) = await daemon.SendAsync("/proxies/echo/toxics", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        using var json = JsonDocument.Parse(answer);
        Assert.StartsWith(error, json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("[]", await daemon.Http.GetStringAsync("/proxies/echo/toxics"));
    }

    [Fact]
    public async Task Populate_creates_answers_201_with_the_list_and_leaves_an_unchanged_proxy_alone()
    {
        await using var daemon = await ProxyDaemon.StartAsync();
        var (status, body) = await daemon.SendAsync("/populate", $$"""[{"name":"a","listen":"127.0.0.1:0","upstream":"{{daemon.UpstreamText}}"},{"name":"b","upstream":"{{daemon.UpstreamText}}","enabled":false}]""");
        Assert.Equal(HttpStatusCode.Created, status);
        using var first = JsonDocument.Parse(body);
        var a = first.RootElement.GetProperty("proxies")[0];
        Assert.False(first.RootElement.GetProperty("proxies")[1].GetProperty("enabled").GetBoolean());
        var listenA = a.GetProperty("listen").GetString();
        await daemon.SendAsync("/proxies/a/toxics", """{"type":"latency"}""");

        // The same listen and upstream: left as it is, toxic and all. A missing upstream fails the whole list first.
        var again = await daemon.SendAsync("/populate", $$"""[{"name":"a","listen":"{{listenA}}","upstream":"{{daemon.UpstreamText}}"}]""");
        var missing = await daemon.SendAsync("/populate", """[{"name":"c","upstream":"127.0.0.1:1"},{"name":"d"}]""");

        Assert.Equal(HttpStatusCode.Created, again.Status);
        using var second = JsonDocument.Parse(again.Body);
        Assert.Equal(listenA, second.RootElement.GetProperty("proxies")[0].GetProperty("listen").GetString());
        Assert.Equal(1, second.RootElement.GetProperty("proxies")[0].GetProperty("toxics").GetArrayLength());
        Assert.Equal((HttpStatusCode.BadRequest, """{"error":"missing required field: upstream at proxy 2","status":400}"""), missing);
        Assert.Equal(HttpStatusCode.NotFound, (await daemon.SendAsync("/proxies/c", method: HttpMethod.Get)).Status);
    }

    [Fact]
    public async Task Version_metrics_and_the_browser_guard_answer_as_Toxiproxys_do()
    {
        await using var daemon = await ProxyDaemon.StartAsync();

        using var version = JsonDocument.Parse(await daemon.Http.GetStringAsync("/version"));
        Assert.False(string.IsNullOrEmpty(version.RootElement.GetProperty("version").GetString()));
        Assert.Equal(HttpStatusCode.OK, (await daemon.SendAsync("/metrics", method: HttpMethod.Get)).Status);
        using var browser = new HttpRequestMessage(HttpMethod.Get, "/proxies");
        browser.Headers.UserAgent.ParseAdd("Mozilla/5.0");
        using var refused = await daemon.Http.SendAsync(browser);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }
}
