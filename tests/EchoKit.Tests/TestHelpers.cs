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

    /// <summary>
    /// Runs <paramref name="run"/> for each client on a thread of its own (blocking socket calls allocate nothing, which
    /// the allocation tests need), waits for every thread within four timeouts, and throws what the clients threw.
    /// </summary>
    public static void RunOnThreads<TClient>(IEnumerable<TClient> clients, Action<TClient> run, string failure = "a client failed")
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = clients.Select(client => new Thread(() =>
        {
            // An exception escaping a thread would end the test host; it is reported by the test instead.
            try
            {
                run(client);
            }
            catch (Exception ex)
            {
                failures.Enqueue(ex);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads)
        {
            if (!t.Join(Timeout * 4))
            {
                throw new TimeoutException("clients did not finish");
            }
        }

        if (!failures.IsEmpty)
        {
            throw new AggregateException(failure, failures);
        }
    }
}
