using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>Every byte sent comes back, in order, exactly once, whatever the chunking, buffer size or concurrency.</summary>
public class EchoIntegrityTests
{
    private const int MiB = 1024 * 1024;

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 3)]
    [InlineData(false, 4)]
    public async Task Random_data_in_random_chunks_from_1_byte_to_1_MiB_is_echoed_byte_exact(bool waitForData, int seed)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.WaitForDataBeforeAllocatingBuffer = waitForData));
        var closed = TrackClosed(server);
        var payload = TestHelpers.RandomBytes((6 * MiB) + 12_345, seed);
        var chunks = ChunkSizes(payload.Length, new Random(seed));
        Assert.Contains(1, chunks);
        Assert.Contains(MiB, chunks);

        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var echoed = await EchoConcurrentlyAsync(client, payload, chunks, new Random(~seed));
        AssertSameBytes(payload, echoed);

        client.Shutdown(SocketShutdown.Send);
        await ExpectEndOfStreamAsync(client);
        var result = await WaitForCloseAsync(closed, client.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, result.Reason);
        Assert.Equal(SocketError.Success, result.SocketError);
        Assert.Equal(payload.Length, result.BytesReceived);
        Assert.Equal(payload.Length, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
        var stats = server.GetStatistics();
        Assert.Equal(payload.Length, stats.BytesReceived);
        Assert.Equal(payload.Length, stats.BytesSent);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Receive_buffer_of_64_bytes_echoes_1_MiB_byte_exact(bool waitForData)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            o.ReceiveBufferSize = EchoServerOptions.MinReceiveBufferSize;
            o.WaitForDataBeforeAllocatingBuffer = waitForData;
        }));
        var closed = TrackClosed(server);
        var payload = TestHelpers.RandomBytes(MiB, seed: 64);

        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var echoed = await EchoConcurrentlyAsync(client, payload, ChunkSizes(payload.Length, new Random(640)), new Random(641));
        AssertSameBytes(payload, echoed);

        client.Shutdown(SocketShutdown.Send);
        await ExpectEndOfStreamAsync(client);
        var result = await WaitForCloseAsync(closed, client.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, result.Reason);
        Assert.Equal(payload.Length, result.BytesReceived);
        Assert.Equal(payload.Length, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_thousand_concurrent_connections_each_get_their_own_payload_back(bool waitForData)
    {
        const int Connections = 1000;
        const int Size = 4096;
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            o.WaitForDataBeforeAllocatingBuffer = waitForData;
            o.Backlog = 2048;
        }));
        var closed = TrackClosed(server);
        var clients = new Socket[Connections];
        try
        {
            // All connected at once, then all echo at once.
            await Task.WhenAll(Enumerable.Range(0, Connections).Select(async i => clients[i] = await TestHelpers.ConnectAsync(server.EndPoint())));
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == Connections, "all connections accepted");

            var mismatches = new ConcurrentBag<int>();
            await Task.WhenAll(Enumerable.Range(0, Connections).Select(i => Task.Run(async () =>
            {
                var payload = TestHelpers.RandomBytes(Size, seed: 10_000 + i);
                var echoed = await clients[i].EchoAsync(payload);
                if (!echoed.AsSpan().SequenceEqual(payload))
                {
                    mismatches.Add(i);
                }
            }))).WaitAsync(TestHelpers.Timeout);

            Assert.Empty(mismatches);

            // A client can read its echo before the server has processed its send's completion, so the
            // byte counters catch up shortly after; they must never overshoot.
            const long Total = (long)Connections * Size;
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent >= Total, "the byte counters to catch up");
            var stats = server.GetStatistics();
            Assert.Equal(Connections, stats.ActiveConnections);
            Assert.Equal(Connections, stats.AcceptedConnections);
            Assert.Equal(0, stats.RejectedConnections);
            Assert.Equal(Total, stats.BytesReceived);
            Assert.Equal(Total, stats.BytesSent);

            await Task.WhenAll(clients.Select(async c =>
            {
                c.Shutdown(SocketShutdown.Send);
                await ExpectEndOfStreamAsync(c);
            })).WaitAsync(TestHelpers.Timeout);
            await TestHelpers.WaitUntilAsync(() => closed.Count == Connections, "every connection closed");

            var byClient = closed.ToDictionary(e => e.RemoteEndPoint!);
            Assert.All(clients, c =>
            {
                var e = byClient[c.LocalEndPoint!];
                Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
                Assert.Equal(Size, e.BytesReceived);
                Assert.Equal(Size, e.BytesSent);
            });
            Assert.Equal(Connections, closed.Select(e => e.ConnectionId).Distinct().Count());
            await server.AssertPoolsReturnedAsync();
        }
        finally
        {
            foreach (var c in clients)
            {
                c?.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Many_small_messages_one_at_a_time_on_one_connection_each_come_back_exact(bool waitForData)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.WaitForDataBeforeAllocatingBuffer = waitForData));
        var closed = TrackClosed(server);
        var rng = new Random(5);
        long total = 0;

        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        for (var i = 0; i < 2000; i++)
        {
            var message = new byte[rng.Next(1, 200)];
            rng.NextBytes(message);
            var echoed = await client.EchoAsync(message);
            Assert.True(echoed.AsSpan().SequenceEqual(message), $"message {i} ({message.Length} bytes) came back different");
            total += message.Length;
        }

        client.Shutdown(SocketShutdown.Send);
        await ExpectEndOfStreamAsync(client);
        var result = await WaitForCloseAsync(closed, client.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, result.Reason);
        Assert.Equal(total, result.BytesReceived);
        Assert.Equal(total, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Many_small_messages_pipelined_on_one_connection_come_back_in_order(bool waitForData)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.WaitForDataBeforeAllocatingBuffer = waitForData));
        var closed = TrackClosed(server);

        // 20,000 messages of 1-64 bytes, each its own send, written while the echo is read back.
        var rng = new Random(6);
        var sizes = Enumerable.Range(0, 20_000).Select(_ => rng.Next(1, 65)).ToList();
        var payload = TestHelpers.RandomBytes(sizes.Sum(), seed: 7);

        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var echoed = await EchoConcurrentlyAsync(client, payload, sizes, new Random(8));
        AssertSameBytes(payload, echoed);

        client.Shutdown(SocketShutdown.Send);
        await ExpectEndOfStreamAsync(client);
        var result = await WaitForCloseAsync(closed, client.LocalEndPoint!);
        Assert.Equal(ConnectionCloseReason.ClientClosed, result.Reason);
        Assert.Equal(payload.Length, result.BytesSent);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Several_connections_streaming_big_payloads_at_once_do_not_mix_their_bytes()
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => o.ReceiveBufferSize = 1000));
        var closed = TrackClosed(server);

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            var payload = TestHelpers.RandomBytes((2 * MiB) + i, seed: 100 + i);
            using var client = await TestHelpers.ConnectAsync(server.EndPoint());
            var echoed = await EchoConcurrentlyAsync(client, payload, ChunkSizes(payload.Length, new Random(200 + i)), new Random(300 + i));
            client.Shutdown(SocketShutdown.Send);
            await ExpectEndOfStreamAsync(client);
            return (payload, echoed);
        })));

        Assert.All(results, r => AssertSameBytes(r.payload, r.echoed));
        await TestHelpers.WaitUntilAsync(() => closed.Count == 4, "four connections closed");
        Assert.All(closed, e => Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason));
        await server.AssertPoolsReturnedAsync();
    }

    /// <summary>Chunk sizes for a payload: starts with tiny chunks and one exact 1 MiB chunk, then log-uniform sizes from 1 B to 1 MiB.</summary>
    private static List<int> ChunkSizes(int total, Random rng)
    {
        var sizes = new List<int>();
        var sum = 0;
        void Add(int size)
        {
            size = Math.Min(size, total - sum);
            if (size > 0)
            {
                sizes.Add(size);
                sum += size;
            }
        }

        Add(1);
        Add(1);
        Add(2);
        Add(3);
        Add(MiB);
        while (sum < total)
        {
            var low = 1 << rng.Next(0, 21);
            Add(Math.Min(MiB, rng.Next(low, 2 * low)));
        }

        return sizes;
    }

    /// <summary>Sends in the given chunks while a separate task reads the echo back in random-sized reads.</summary>
    private static async Task<byte[]> EchoConcurrentlyAsync(Socket socket, byte[] payload, IReadOnlyList<int> chunkSizes, Random readSizes)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var echoed = new byte[payload.Length];
        var send = Task.Run(async () =>
        {
            var offset = 0;
            foreach (var size in chunkSizes)
            {
                var chunk = payload.AsMemory(offset, size);
                while (!chunk.IsEmpty)
                {
                    chunk = chunk[await socket.SendAsync(chunk, SocketFlags.None, cts.Token)..];
                }

                offset += size;
            }

            Assert.Equal(payload.Length, offset);
        });
        var receive = Task.Run(async () =>
        {
            var offset = 0;
            while (offset < echoed.Length)
            {
                var want = Math.Min(readSizes.Next(1, 256 * 1024), echoed.Length - offset);
                var read = await socket.ReceiveAsync(echoed.AsMemory(offset, want), SocketFlags.None, cts.Token);
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

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var mismatch = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(mismatch == expected.Length, $"echo differs from what was sent at byte {mismatch} of {expected.Length}");
    }

    /// <summary>After the client's half-close, the server must send nothing more and then end the stream cleanly.</summary>
    private static async Task ExpectEndOfStreamAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var buffer = new byte[1024];
        var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        Assert.True(read == 0, $"expected end of stream, got {read} more bytes");
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
