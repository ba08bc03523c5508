using System.Collections.Concurrent;
using System.Net.Sockets;

namespace EchoKit.Tests;

public class ConnectionLimitTests
{
    [Fact]
    public async Task Connections_beyond_MaxConnections_are_rejected_and_counted_while_admitted_ones_keep_echoing()
    {
        var rejected = new ConcurrentBag<ConnectionRejectedEventArgs>();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.MaxConnections = 3));
        server.ConnectionRejected += (_, e) => rejected.Add(e);
        var admitted = new List<Socket>();
        for (var i = 0; i < 3; i++)
        {
            var socket = await TestHelpers.ConnectAsync(server.EndPoint());
            await socket.EchoAsync([1, 2, 3]);
            admitted.Add(socket);
        }

        for (var i = 0; i < 5; i++)
        {
            using var extra = await TestHelpers.ConnectAsync(server.EndPoint());
            var end = await extra.ReceiveToEndAsync();
            Assert.Empty(end);
        }

        await TestHelpers.WaitUntilAsync(() => rejected.Count == 5, "5 rejected events");
        var stats = server.GetStatistics();
        Assert.Equal(3, stats.ActiveConnections);
        Assert.Equal(3, stats.AcceptedConnections);
        Assert.Equal(5, stats.RejectedConnections);
        Assert.All(rejected, e => Assert.Equal(ConnectionRejectionReason.MaxConnectionsExceeded, e.Reason));
        Assert.All(rejected, e => Assert.NotNull(e.RemoteEndPoint));
        foreach (var socket in admitted)
        {
            Assert.Equal(new byte[] { 9, 8, 7 }, await socket.EchoAsync([9, 8, 7]));
        }

        // A freed slot is usable again.
        admitted[0].Dispose();
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 2, "a freed slot");
        using var again = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Equal(new byte[] { 4 }, await again.EchoAsync([4]));
        admitted.ForEach(s => s.Dispose());
        again.Dispose();
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Statistics_count_connections_and_bytes_consistently()
    {
        await using var server = await TestHelpers.StartAsync();
        using (var a = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await a.EchoAsync(new byte[1000]);
        }

        using var b = await TestHelpers.ConnectAsync(server.EndPoint());
        await b.EchoAsync(new byte[234]);

        // The client can read an echo the moment the kernel takes it, just before the server's send completes and is
        // counted, so the counters may lag the client's view by one send: wait for them, then compare all at once.
        var expected = new EchoServerStatistics(1, 2, 0, 1234, 1234);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics() == expected, "the counters to catch up");
        Assert.Equal(expected, server.GetStatistics());
    }
}
