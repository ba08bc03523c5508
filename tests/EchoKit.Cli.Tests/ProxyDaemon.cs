using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EchoKit.Testing;

namespace EchoKit.Cli.Tests;

/// <summary>
/// An in-process <c>echokit proxy --admin 127.0.0.1:0</c> (more flags as given) with an HTTP client on its API, and a
/// real <see cref="EchoServer"/> on 127.0.0.1 as the upstream its proxies relay to.
/// </summary>
internal sealed class ProxyDaemon : IAsyncDisposable
{
    private ProxyDaemon(CliRun run, EchoServer upstream, IPEndPoint admin)
    {
        Run = run;
        Upstream = upstream;
        Admin = admin;
        Http = new HttpClient { BaseAddress = new Uri($"http://{admin}/"), Timeout = CliRun.Timeout };
    }

    public CliRun Run { get; }

    public EchoServer Upstream { get; }

    /// <summary>The upstream's address as a client writes it: <c>127.0.0.1:PORT</c>.</summary>
    public string UpstreamText => Upstream.EndPoints[0].ToString()!;

    public IPEndPoint Admin { get; }

    public HttpClient Http { get; }

    public static async Task<ProxyDaemon> StartAsync(params string[] args)
    {
        var upstreamOptions = new EchoServerOptions();
        upstreamOptions.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        var upstream = new EchoServer(upstreamOptions);
        await upstream.StartAsync();
        var run = CliRun.Start(["proxy", "--admin", "127.0.0.1:0", "--quiet", .. args]);
        try
        {
            var admin = IPEndPoint.Parse(await run.WaitForListenerAsync("admin"));
            return new ProxyDaemon(run, upstream, admin);
        }
        catch
        {
            run.Dispose();
            await upstream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends <paramref name="json"/> with <paramref name="method"/> (POST by default).</summary>
    public async Task<(HttpStatusCode Status, string Body)> SendAsync(string path, string? json = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Post, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Connects to <paramref name="endPoint"/>, sends 4 bytes and times until they are back through every hop.</summary>
    public static async Task<TimeSpan> TimeOneEchoAsync(EndPoint endPoint)
    {
        using var client = await SocketTestHelpers.ConnectAsync(endPoint);
        var started = Stopwatch.StartNew();
        var echoed = await client.EchoAsync([1, 2, 3, 4]);
        var elapsed = started.Elapsed;
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, echoed);
        return elapsed;
    }

    /// <summary>Whether a connection to <paramref name="endPoint"/> is refused (nothing listens).</summary>
    public static async Task<bool> IsRefusedAsync(EndPoint endPoint)
    {
        try
        {
            using var client = await SocketTestHelpers.ConnectAsync(endPoint);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        var exitCode = await Run.StopAsync();
        Run.Dispose();
        await Upstream.DisposeAsync();
        Assert.True(exitCode == 0, $"echokit proxy exited with {exitCode}.\nstderr:\n{Run.Error.Text}");
    }
}
