using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>Shared plumbing for tests: servers on loopback port 0, clients, and bounded waits.</summary>
internal static class TestHelpers
{
    /// <summary>The upper bound for any single wait in a test; tests never hang past it.</summary>
    public static readonly TimeSpan Timeout = SocketTestHelpers.Timeout;

    public static Task<Socket> ConnectAsync(IPEndPoint endPoint) => SocketTestHelpers.ConnectAsync(endPoint);

    public static Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        SocketTestHelpers.WaitUntilAsync(condition, what, timeout);

    public static byte[] RandomBytes(int length, int seed) => SocketTestHelpers.RandomBytes(length, seed);

    public static EchoServerOptions LoopbackOptions(Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        configure?.Invoke(options);
        return options;
    }

    public static async Task<EchoServer> StartAsync(EchoServerOptions? options = null)
    {
        var server = new EchoServer(options ?? LoopbackOptions());
        await server.StartAsync();
        return server;
    }

    public static IPEndPoint EndPoint(this EchoServer server, int index = 0) => (IPEndPoint)server.EndPoints[index];

    /// <summary>Waits until the server has no connection and every pooled object is back: nothing leaked.</summary>
    public static Task AssertPoolsReturnedAsync(this EchoServer server) =>
        WaitUntilAsync(
            () => server.GetStatistics().ActiveConnections == 0 && server.PoolOutstanding == (0, 0),
            $"pools back to baseline (outstanding {server.PoolOutstanding}, active {server.GetStatistics().ActiveConnections})");
}
