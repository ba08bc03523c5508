using System.Collections.Concurrent;

namespace EchoKit.Tests;

/// <summary>
/// Runs alone: the busy connection must never pause for IdleTimeout, and a test host saturated by the
/// parallel suite can delay a test's continuations by seconds on 2 cores.
/// </summary>
[CollectionDefinition(nameof(IdleTimeoutTests), DisableParallelization = true)]
public class IdleTimeoutTestsDefinition;

[Collection(nameof(IdleTimeoutTests))]
public class IdleTimeoutTests
{
    [Fact]
    public async Task Idle_connections_are_closed_after_IdleTimeout_and_busy_ones_are_not()
    {
        var closed = new ConcurrentDictionary<long, ConnectionCloseReason>();
        var accepted = new ConcurrentQueue<long>();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.IdleTimeout = TimeSpan.FromSeconds(1)));
        server.ConnectionAccepted += (_, e) => accepted.Enqueue(e.ConnectionId);
        server.ConnectionClosed += (_, e) => closed[e.ConnectionId] = e.Reason;
        using var idle = await TestHelpers.ConnectAsync(server.EndPoint());
        await idle.EchoAsync([1]);
        using var busy = await TestHelpers.ConnectAsync(server.EndPoint());

        // Keep one connection busy for well over the timeout.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        var last = DateTime.UtcNow;
        while (DateTime.UtcNow < until)
        {
            try
            {
                Assert.Equal(new byte[] { 42 }, await busy.EchoAsync([42]));
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw new InvalidOperationException($"busy echo failed {(DateTime.UtcNow - last).TotalMilliseconds} ms after the last one; closed: {string.Join(",", closed)}", ex);
            }

            last = DateTime.UtcNow;
            await Task.Delay(50);
        }

        Assert.Empty(await idle.ReceiveToEndAsync());
        await TestHelpers.WaitUntilAsync(() => closed.Count == 1, "the idle connection to close");
        Assert.Equal(ConnectionCloseReason.IdleTimeout, closed.Values.Single());
        Assert.Equal(1, server.GetStatistics().ActiveConnections);
        Assert.Equal(new byte[] { 43 }, await busy.EchoAsync([43]));
    }
}
