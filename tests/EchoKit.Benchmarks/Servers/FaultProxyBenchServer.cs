using System.Net;

namespace EchoKit.Benchmarks.Servers;

/// <summary>EchoKit's <see cref="FaultProxy"/> with default options and no rules: a plain TCP proxy to <paramref name="upstream"/>.</summary>
public sealed class FaultProxyBenchServer(IPEndPoint upstream) : IBenchServer
{
    private FaultProxy? _proxy;

    public async Task StartAsync(int port)
    {
        var options = new FaultProxyOptions
        {
            EndPoints = { new IPEndPoint(IPAddress.Loopback, port) },
            Upstream = upstream,
        };
        _proxy = new FaultProxy(options);
        await _proxy.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }
    }
}
