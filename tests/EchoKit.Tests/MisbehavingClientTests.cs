using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>Clients that half-close, reset or never read must get correct treatment and must not hurt anyone else.</summary>
public class MisbehavingClientTests
{
    private const int MiB = 1024 * 1024;

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(100_000, false)]
    [InlineData(3 * MiB, true)]
    [InlineData(3 * MiB, false)]
    public async Task Half_close_gets_every_byte_back_then_end_of_stream_and_ClientClosed(int size, bool waitForData)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.WaitForDataBeforeAllocatingBuffer = waitForData));
        var closed = TrackClosed(server);
        var payload = TestHelpers.RandomBytes(size, seed: size);

        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var reader = ReceiveUntilEndOfStreamAsync(client);
        await client.SendAllAsync(payload);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await reader;

        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(echoed.AsSpan().SequenceEqual(payload), "the echo differs from what was sent");
        var result = await WaitForCloseAsync(closed, client.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, result.Reason);
        Assert.Equal(SocketError.Success, result.SocketError);
        Assert.Equal(size, result.BytesReceived);
        Assert.Equal(size, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Client_reset_mid_stream_is_recorded_and_leaks_nothing_while_other_connections_carry_on()
    {
        const int Resetters = 8;
        await using var server = await TestHelpers.StartAsync();
        var closed = TrackClosed(server);

        // A well-behaved connection streams throughout, before, during and after the resets.
        using var bystander = await TestHelpers.ConnectAsync(server.EndPoint());
        var bystanderPayload = TestHelpers.RandomBytes(8 * MiB, seed: 42);
        var bystanderEcho = EchoConcurrentlyAsync(bystander, bystanderPayload, 16 * 1024);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent > 64 * 1024, "the bystander to be echoing");

        var resetEndPoints = await Task.WhenAll(Enumerable.Range(0, Resetters).Select(i => Task.Run(() => ResetMidStreamAsync(server, seed: i))));

        foreach (var endPoint in resetEndPoints)
        {
            var result = await WaitForCloseAsync(closed, endPoint);
            Assert.True(
                result.Reason is ConnectionCloseReason.ConnectionReset or ConnectionCloseReason.ClientClosed,
                $"a reset client was recorded as {result.Reason} ({result.SocketError})");
            Assert.True(result.BytesReceived > 0, "the reset client had sent data");
            Assert.True(result.BytesSent <= result.BytesReceived, "more echoed than received");
        }

        // The bystander's stream is intact and its connection is still open and echoing.
        var echoed = await bystanderEcho;
        Assert.True(echoed.AsSpan().SequenceEqual(bystanderPayload), "the bystander's echo was corrupted");
        Assert.DoesNotContain(closed, e => bystander.LocalEndPoint!.Equals(e.RemoteEndPoint));
        Assert.Equal(1, server.GetStatistics().ActiveConnections);
        var after = TestHelpers.RandomBytes(1000, seed: 43);
        Assert.True((await bystander.EchoAsync(after)).AsSpan().SequenceEqual(after), "the bystander's echo after the resets differs");

        bystander.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReceiveUntilEndOfStreamAsync(bystander));
        var bystanderClose = await WaitForCloseAsync(closed, bystander.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, bystanderClose.Reason);
        await server.AssertPoolsReturnedAsync();
        Assert.Equal(Resetters + 1, server.GetStatistics().AcceptedConnections);
    }

    [Fact]
    public async Task Client_reset_right_after_connecting_leaks_nothing()
    {
        await using var server = await TestHelpers.StartAsync();
        var closed = TrackClosed(server);
        for (var i = 0; i < 20; i++)
        {
            var client = await TestHelpers.ConnectAsync(server.EndPoint());
            client.LingerState = new LingerOption(true, 0);
            if (i % 2 == 1)
            {
                await client.SendAllAsync(new byte[] { 1, 2, 3 });
            }

            client.Dispose();
        }

        await TestHelpers.WaitUntilAsync(() => closed.Count == 20, "twenty closes");
        Assert.All(closed, e => Assert.True(
            e.Reason is ConnectionCloseReason.ConnectionReset or ConnectionCloseReason.ClientClosed,
            $"recorded as {e.Reason} ({e.SocketError})"));
        await server.AssertPoolsReturnedAsync();

        // The server still serves.
        using var next = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(10_000, seed: 9);
        Assert.True((await next.EchoAsync(payload)).AsSpan().SequenceEqual(payload));
    }

    [Fact]
    public async Task A_client_that_sends_a_lot_and_never_reads_does_not_stall_other_connections()
    {
        await using var server = await TestHelpers.StartAsync();
        var closed = TrackClosed(server);

        // Sends 8 MiB and never reads: its echo backs up and the server stops reading from it.
        var hog = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 64 * 1024 };
        try
        {
            using (var connectCts = new CancellationTokenSource(TestHelpers.Timeout))
            {
                await hog.ConnectAsync(server.EndPoint(), connectCts.Token);
            }

            var hogEndPoint = hog.LocalEndPoint!;
            var hogPayload = TestHelpers.RandomBytes(8 * MiB, seed: 8);
            var hogSend = Task.Run(async () =>
            {
                try
                {
                    await hog.SendAllAsync(hogPayload);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    // Expected once the hog is closed while its send is blocked.
                }
            });
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived >= 64 * 1024, "the server to receive from the hog");

            // Five other clients echo normally, concurrently, and are verified.
            await Task.WhenAll(Enumerable.Range(0, 5).Select(i => Task.Run(async () =>
            {
                var payload = TestHelpers.RandomBytes(MiB + i, seed: 500 + i);
                using var client = await TestHelpers.ConnectAsync(server.EndPoint());
                for (var round = 0; round < 3; round++)
                {
                    var echoed = await EchoConcurrentlyAsync(client, payload, 32 * 1024);
                    Assert.True(echoed.AsSpan().SequenceEqual(payload), $"client {i} round {round}: echo differs");
                }

                client.Shutdown(SocketShutdown.Send);
                Assert.Empty(await ReceiveUntilEndOfStreamAsync(client));
            }))).WaitAsync(TestHelpers.Timeout);

            await TestHelpers.WaitUntilAsync(() => closed.Count == 5, "the five normal connections to close");
            Assert.All(closed, e =>
            {
                Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
                Assert.Equal(e.BytesReceived, e.BytesSent);
                Assert.InRange(e.BytesReceived, 3L * MiB, 3L * (MiB + 4));
            });

            // The hog is still connected: the server neither dropped it nor echoed more than it received.
            Assert.Equal(1, server.GetStatistics().ActiveConnections);
            Assert.DoesNotContain(closed, e => hogEndPoint.Equals(e.RemoteEndPoint));

            hog.Dispose();
            await hogSend.WaitAsync(TestHelpers.Timeout);
            var hogClose = await WaitForCloseAsync(closed, hogEndPoint);
            Assert.True(
                hogClose.Reason is ConnectionCloseReason.ConnectionReset or ConnectionCloseReason.ClientClosed,
                $"the hog was recorded as {hogClose.Reason} ({hogClose.SocketError})");
            Assert.True(hogClose.BytesReceived >= 64 * 1024, "the hog's data was received");
            Assert.True(hogClose.BytesSent <= hogClose.BytesReceived, "more echoed to the hog than received");
            await server.AssertPoolsReturnedAsync();
        }
        finally
        {
            hog.Dispose();
        }
    }

    /// <summary>Connects, streams until the server is echoing, then aborts with RST (linger 0); returns the client's endpoint.</summary>
    private static async Task<EndPoint> ResetMidStreamAsync(EchoServer server, int seed)
    {
        var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var endPoint = client.LocalEndPoint!;
        var payload = TestHelpers.RandomBytes(64 * 1024, seed: 1000 + seed);
        var sender = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await client.SendAllAsync(payload);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // Ends when the socket is reset below.
            }
        });

        // Read some echo so the server is surely mid-stream, then reset while data still flows both ways.
        var echoed = new byte[256 * 1024];
        await client.ReceiveExactlyAsync(echoed);
        for (var offset = 0; offset < echoed.Length; offset += payload.Length)
        {
            Assert.True(echoed.AsSpan(offset, payload.Length).SequenceEqual(payload), "echo before the reset differs");
        }

        client.LingerState = new LingerOption(true, 0);
        client.Dispose();
        await sender.WaitAsync(TestHelpers.Timeout);
        return endPoint;
    }

    /// <summary>Sends in fixed chunks while a separate task reads the echo back.</summary>
    private static async Task<byte[]> EchoConcurrentlyAsync(Socket socket, byte[] payload, int chunkSize)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var echoed = new byte[payload.Length];
        var send = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += chunkSize)
            {
                var chunk = payload.AsMemory(offset, Math.Min(chunkSize, payload.Length - offset));
                while (!chunk.IsEmpty)
                {
                    chunk = chunk[await socket.SendAsync(chunk, SocketFlags.None, cts.Token)..];
                }
            }
        });
        var receive = Task.Run(async () =>
        {
            var offset = 0;
            while (offset < echoed.Length)
            {
                var read = await socket.ReceiveAsync(echoed.AsMemory(offset), SocketFlags.None, cts.Token);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The server closed after {offset} of {echoed.Length} bytes.");
                }

                offset += read;
            }
        });

        try
        {
            await Task.WhenAll(send, receive);
        }
        catch
        {
            await cts.CancelAsync();
            throw;
        }

        return echoed;
    }

    /// <summary>Reads until a clean end of stream; unlike the shared helper, a reset fails the test.</summary>
    private static async Task<byte[]> ReceiveUntilEndOfStreamAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }

    private static ConcurrentQueue<ConnectionClosedEventArgs> TrackClosed(EchoServer server)
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);
        return closed;
    }

    private static async Task<ConnectionClosedEventArgs> WaitForCloseAsync(ConcurrentQueue<ConnectionClosedEventArgs> closed, EndPoint client)
    {
        ConnectionClosedEventArgs? found = null;
        await TestHelpers.WaitUntilAsync(() => (found = closed.FirstOrDefault(e => client.Equals(e.RemoteEndPoint))) is not null, $"the close of {client}");
        return found!;
    }
}
