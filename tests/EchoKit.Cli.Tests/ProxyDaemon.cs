using System.Net;
using System.Net.Sockets;
using System.Text;
using EchoKit.Testing;

namespace EchoKit.Cli.Tests;

/// <summary>
/// An in-process <c>echokit proxy --admin 127.0.0.1:0</c> (more flags as given) with an HTTP client on its API, and a
/// real <see cref="EchoServer"/> on 127.0.0.1 as the upstream its proxies relay to.
/// </summary>
internal sealed class ProxyDaemon : AdminRun
{
    private ProxyDaemon(CliRun run, EchoServer upstream, IPEndPoint admin)
        : base(run, admin)
    {
        Upstream = upstream;
    }

    public EchoServer Upstream { get; }

    /// <summary>The upstream's address as a client writes it: <c>127.0.0.1:PORT</c>.</summary>
    public string UpstreamText => Upstream.EndPoints[0].ToString()!;

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

    protected override ValueTask DisposeMoreAsync() => Upstream.DisposeAsync();
}
