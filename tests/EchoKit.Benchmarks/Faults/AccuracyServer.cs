using System.Net;

namespace EchoKit.Benchmarks.Faults;

/// <summary>An in-process <see cref="EchoServer"/> on 127.0.0.1 with a port the system picks (port 0).</summary>
internal static class AccuracyServer
{
    public static async Task<(EchoServer Server, IPEndPoint EndPoint)> StartAsync(Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        configure?.Invoke(options);
        var server = new EchoServer(options);
        await server.StartAsync();
        return (server, (IPEndPoint)server.Listeners[0].EndPoint);
    }
}
