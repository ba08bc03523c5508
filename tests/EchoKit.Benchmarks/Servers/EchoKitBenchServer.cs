using System.Net;

namespace EchoKit.Benchmarks.Servers;

/// <summary>EchoKit with its default options (or changed by <paramref name="configure"/>, for diagnostic variants).</summary>
public sealed class EchoKitBenchServer(Action<EchoServerOptions>? configure = null) : IBenchServer
{
    private EchoServer? _server;

    public async Task StartAsync(int port)
    {
        var options = new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, port) } };
        configure?.Invoke(options);
        _server = new EchoServer(options);
        await _server.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
