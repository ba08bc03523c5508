using System.Net;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// An unmodified Toxiproxy client (toxiproxy-node-client 4.1.0 from npm) drives <c>echokit proxy --admin</c>; each
/// step is checked both in what the client reports and in its effect on real echoes through the proxy.
/// </summary>
public class ToxiproxyClientTests
{
    /// <summary>Per direction: large enough that both directions stand out from a loaded machine's noise.</summary>
    private const int LatencyMs = 500;

    [Fact]
    public async Task A_Toxiproxy_client_creates_a_proxy_adds_updates_and_removes_latency_disables_resets_and_deletes()
    {
        await ToxiproxyNodeClient.EnsureInstalledAsync();
        await using var daemon = await ProxyDaemon.StartAsync();
        var api = daemon.Http.BaseAddress!;

        var version = await ToxiproxyNodeClient.OkAsync(api, "version");
        Assert.Contains("\"version\"", version.GetString(), StringComparison.Ordinal);

        var created = await ToxiproxyNodeClient.OkAsync(api, "create", "echo", daemon.UpstreamText);
        Assert.Equal("echo", created.GetProperty("name").GetString());
        Assert.True(created.GetProperty("enabled").GetBoolean());
        Assert.Equal(daemon.UpstreamText, created.GetProperty("upstream").GetString());
        var listen = IPEndPoint.Parse(created.GetProperty("listen").GetString()!);
        Assert.NotEqual(0, listen.Port);
        Assert.Equal(listen.ToString(), (await ToxiproxyNodeClient.OkAsync(api, "get", "echo")).GetProperty("listen").GetString());
        await AdminRun.TimeOneEchoAsync(listen);

        // Latency both ways: an echo through the proxy waits for both.
        var downstream = await ToxiproxyNodeClient.OkAsync(api, "add-latency", "echo", "downstream", $"{LatencyMs}");
        var upstream = await ToxiproxyNodeClient.OkAsync(api, "add-latency", "echo", "upstream", $"{LatencyMs}");
        Assert.Equal("latency_downstream", downstream.GetProperty("name").GetString());
        Assert.Equal("latency_upstream", upstream.GetProperty("name").GetString());
        Assert.Equal("upstream", upstream.GetProperty("stream").GetString());
        Assert.Equal(LatencyMs, upstream.GetProperty("attributes").GetProperty("latency").GetInt32());
        Assert.InRange(await AdminRun.TimeOneEchoAsync(listen), TimeSpan.FromMilliseconds(2 * LatencyMs - 50), CliRun.Timeout);

        var updated = await ToxiproxyNodeClient.OkAsync(api, "update-latency", "echo", "latency_downstream", "50");
        Assert.Equal(50, updated.GetProperty("attributes").GetProperty("latency").GetInt32());
        Assert.Equal(50, (await ToxiproxyNodeClient.OkAsync(api, "toxic", "echo", "latency_downstream")).GetProperty("attributes").GetProperty("latency").GetInt32());

        await ToxiproxyNodeClient.OkAsync(api, "remove-toxic", "echo", "latency_upstream");
        await ToxiproxyNodeClient.OkAsync(api, "remove-toxic", "echo", "latency_downstream");
        var gone = await ToxiproxyNodeClient.StepAsync(api, "toxic", "echo", "latency_upstream");
        Assert.False(gone.GetProperty("ok").GetBoolean());
        Assert.Contains("404", gone.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.InRange(await AdminRun.TimeOneEchoAsync(listen), TimeSpan.Zero, TimeSpan.FromMilliseconds(LatencyMs - 50));

        // Disabled: nothing listens, the settings stay; enabled again: the same port.
        var disabled = await ToxiproxyNodeClient.OkAsync(api, "enable", "echo", "false");
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.True(await ProxyDaemon.IsRefusedAsync(listen), "a disabled proxy refuses connections");
        var enabled = await ToxiproxyNodeClient.OkAsync(api, "enable", "echo", "true");
        Assert.True(enabled.GetProperty("enabled").GetBoolean());
        Assert.Equal(listen.ToString(), enabled.GetProperty("listen").GetString());
        await AdminRun.TimeOneEchoAsync(listen);

        // Reset: enabled again and no toxics.
        await ToxiproxyNodeClient.OkAsync(api, "add-latency", "echo", "downstream", $"{LatencyMs}");
        await ToxiproxyNodeClient.OkAsync(api, "enable", "echo", "false");
        await ToxiproxyNodeClient.OkAsync(api, "reset");
        Assert.True((await ToxiproxyNodeClient.OkAsync(api, "get", "echo")).GetProperty("enabled").GetBoolean());
        Assert.Equal("[]", await daemon.Http.GetStringAsync("proxies/echo/toxics"));
        Assert.InRange(await AdminRun.TimeOneEchoAsync(listen), TimeSpan.Zero, TimeSpan.FromMilliseconds(LatencyMs - 50));

        var populated = await ToxiproxyNodeClient.OkAsync(api, "populate", "second", daemon.UpstreamText);
        await AdminRun.TimeOneEchoAsync(IPEndPoint.Parse(populated.GetProperty("second").GetProperty("listen").GetString()!));
        var all = await ToxiproxyNodeClient.OkAsync(api, "all");
        Assert.Equal(["echo", "second"], all.EnumerateObject().Select(p => p.Name).Order());

        await ToxiproxyNodeClient.OkAsync(api, "delete", "echo");
        var deleted = await ToxiproxyNodeClient.StepAsync(api, "get", "echo");
        Assert.False(deleted.GetProperty("ok").GetBoolean());
        Assert.True(await ProxyDaemon.IsRefusedAsync(listen), "a deleted proxy no longer listens");
    }
}
