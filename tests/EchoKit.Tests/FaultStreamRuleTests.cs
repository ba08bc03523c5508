using System.Diagnostics;
using System.Net.Sockets;
using static EchoKit.Tests.FaultInjectionTests;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// bandwidth, slow-close, stall-reads and corrupt on TCP, measured from the client. Lower time bounds hold because the
/// server never writes early; upper bounds are loose because the machine is shared.
/// </summary>
public sealed class FaultStreamRuleTests
{
    private static readonly TimeSpan Loose = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Bandwidth_writes_no_faster_than_its_rate_and_echoes_every_byte()
    {
        await using var server = await StartAsync(["bandwidth:rate=64KiB"], configure: null);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(128 * 1024, seed: 11);

        var started = Stopwatch.StartNew();
        var sending = client.SendAllAsync(payload);
        var (data, _, end) = await ReadAsync(client, payload.Length);
        await sending;

        // 128 KiB at 64 KiB/s is 2 s; the clock may start with up to 1/10 s of credit (lateness it makes up), and the
        // first piece (1/50 s worth) goes at once: never under 1.88 s.
        Assert.Equal(Ending.Open, end);
        Assert.Equal(payload, data);
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(1.85), Loose);
    }

    [Fact]
    public async Task Slow_close_holds_the_servers_FIN_for_the_delay_after_the_client_closed()
    {
        await using var server = await StartAsync(["slow-close:delay=600ms"], configure: null);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Equal([1, 2, 3], await client.EchoAsync([1, 2, 3]));

        var closing = Stopwatch.StartNew();
        client.Shutdown(SocketShutdown.Send);
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.Equal(Ending.Closed, end);
        Assert.InRange(closing.Elapsed, TimeSpan.FromMilliseconds(600), Loose);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Stall_reads_echoes_its_bytes_then_stops_reading_so_the_clients_writes_back_up_until_the_idle_timeout()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["stall-reads:after=16KiB"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e),
            o => o.IdleTimeout = TimeSpan.FromSeconds(3));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var first = TestHelpers.RandomBytes(16 * 1024, seed: 12);
        await client.SendAllAsync(first);
        var (data, _, _) = await ReadAsync(client, first.Length);
        Assert.Equal(first, data);

        // The server reads nothing more: the kernel's buffers fill and a non-blocking write stops being taken.
        client.Blocking = false;
        var chunk = new byte[64 * 1024];
        var taken = 0L;
        var stalledFor = Stopwatch.StartNew();
        var total = Stopwatch.StartNew();
        while (stalledFor.Elapsed < TimeSpan.FromMilliseconds(500) && total.Elapsed < TimeSpan.FromSeconds(10) && taken < 64 * 1024 * 1024)
        {
            var sent = client.Send(chunk, 0, chunk.Length, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                await Task.Delay(20);
                continue;
            }

            Assert.Equal(SocketError.Success, error);
            taken += sent;
            stalledFor.Restart();
        }

        Assert.InRange(taken, 1, 32 * 1024 * 1024);
        Assert.Equal(16 * 1024, server.GetStatistics().BytesReceived);
        Assert.Equal(ConnectionCloseReason.IdleTimeout, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Stall_reads_after_zero_reads_nothing_and_a_stop_still_ends_it_within_the_shutdown_timeout()
    {
        await using var server = await StartAsync(["stall-reads"], configure: null, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(new byte[100]);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived > 0, "the first read");

        var stopping = Stopwatch.StartNew();
        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        // One read of whatever was there is echoed (after=0 stalls after the first echo), nothing after it.
        Assert.InRange(server.GetStatistics().BytesReceived, 1, 100);
        Assert.InRange(stopping.Elapsed, TimeSpan.Zero, Loose);
        Assert.Equal((0, 0), server.PoolOutstanding);
    }

    [Fact]
    public async Task Slow_close_does_not_hold_a_stop_beyond_the_shutdown_timeout()
    {
        await using var server = await StartAsync(["slow-close:delay=10m"], configure: null, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.EchoAsync([1]);
        client.Shutdown(SocketShutdown.Send);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent == 1, "the echo");
        await Task.Delay(100);

        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        Assert.Equal(0, server.GetStatistics().ActiveConnections);
        Assert.Equal((0, 0), server.PoolOutstanding);
    }

    [Fact]
    public async Task Corrupt_flips_about_one_bit_per_every_bytes_each_in_its_own_byte_and_the_same_for_the_same_seed()
    {
        var payload = TestHelpers.RandomBytes(64 * 1024, seed: 13);
        var first = await FlippedAsync(payload, seed: 7);
        var again = await FlippedAsync(payload, seed: 7);
        var other = await FlippedAsync(payload, seed: 8);

        // 64 KiB at one flip per 64 bytes: 1,024 expected; gaps are uniform 1..127, so the count is tightly spread.
        Assert.InRange(first.Count, 1024 * 0.8, 1024 * 1.2);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Corrupt_leaves_the_length_and_order_alone()
    {
        await using var server = await StartAsync(["corrupt:every=1"], configure: null);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = new byte[256];

        var echoed = await client.EchoAsync(payload);

        // every=1 flips one bit in each byte.
        Assert.All(echoed, b => Assert.Equal(1, System.Numerics.BitOperations.PopCount(b)));
    }

    /// <summary>The positions of the flipped bits (byte index * 8 + bit) of an echo of <paramref name="payload"/> under <c>corrupt:every=64</c>.</summary>
    private static async Task<List<int>> FlippedAsync(byte[] payload, int seed)
    {
        await using var server = await StartAsync(["corrupt:every=64"], configure: null, o => o.FaultSeed = seed);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var sending = client.SendAllAsync(payload);
        var (data, _, _) = await ReadAsync(client, payload.Length);
        await sending;
        Assert.Equal(payload.Length, data.Length);
        var flipped = new List<int>();
        for (var i = 0; i < payload.Length; i++)
        {
            var diff = payload[i] ^ data[i];
            Assert.InRange(System.Numerics.BitOperations.PopCount((uint)diff), 0, 1);
            if (diff != 0)
            {
                flipped.Add(i * 8 + System.Numerics.BitOperations.Log2((uint)diff));
            }
        }

        return flipped;
    }
}
