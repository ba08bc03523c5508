using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;

namespace EchoKit.Tests;

/// <summary>RFC 862 over UDP: byte-exact echo to each source, and the abuse protection that drops datagrams without an answer.</summary>
public class UdpEchoTests
{
    [Theory]
    [InlineData(4)]
    [InlineData(1)]
    public async Task Each_datagram_goes_back_unchanged_to_its_own_source(int datagramsInFlight)
    {
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.DatagramsInFlight = datagramsInFlight));
        var endPoint = server.UdpEndPoint();
        Assert.NotEqual(0, endPoint.Port);
        var listener = Assert.Single(server.Listeners);
        Assert.Equal(EchoTransport.Udp, listener.Transport);
        Assert.Equal(endPoint, listener.EndPoint);

        var clients = Enumerable.Range(0, 4).Select(_ => UdpTestHelpers.Client()).ToArray();
        try
        {
            int[] sizes = [0, 1, 512, 1472, 9000, 65_507];
            long bytes = 0;

            // One maximum-size datagram in flight at a time: four at once can overflow the server socket's default
            // receive buffer (about 208 KiB of kernel memory) while a loaded machine is slow to read it, and loopback
            // UDP then drops one for real. That loss would be the kernel's, not the server's, and a test of the echo
            // must not depend on it.
            using var largest = new SemaphoreSlim(1);
            await Task.WhenAll(clients.Select(async (client, c) =>
            {
                foreach (var size in sizes)
                {
                    var payload = TestHelpers.RandomBytes(size, seed: (c * 100) + size);
                    var gate = size > 9000 ? largest : null;
                    if (gate is not null)
                    {
                        await gate.WaitAsync();
                    }

                    byte[] echoed;
                    try
                    {
                        echoed = await client.EchoDatagramAsync(endPoint, payload);
                    }
                    finally
                    {
                        gate?.Release();
                    }

                    Assert.True(payload.AsSpan().SequenceEqual(echoed), $"client {c}: the {size}-byte echo differs");
                    Interlocked.Add(ref bytes, size);
                }
            }));

            var expected = clients.Length * sizes.Length;
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == expected, "the echo counters");
            var stats = server.GetStatistics();
            Assert.Equal(expected, stats.DatagramsReceived);
            Assert.Equal(0, stats.DatagramsDropped);
            Assert.Equal(bytes, stats.BytesReceived);
            Assert.Equal(bytes, stats.BytesSent);
            Assert.Equal(0, stats.AcceptedConnections);
            Assert.Equal(stats, server.GetStatistics(EchoTransport.Udp));
            Assert.Equal(default, server.GetStatistics(EchoTransport.Tcp));
        }
        finally
        {
            Array.ForEach(clients, c => c.Dispose());
        }
    }

    [SkippableFact]
    public async Task Dual_mode_IPv6Any_echoes_IPv4_and_IPv6_sources()
    {
        Skip.IfNot(Socket.OSSupportsIPv6);
        await using var server = await TestHelpers.StartAsync(new EchoServerOptions { UdpEndPoints = { new IPEndPoint(IPAddress.IPv6Any, 0) } });
        var port = server.UdpEndPoint().Port;

        using var v4 = UdpTestHelpers.Client(IPAddress.Loopback);
        using var v6 = UdpTestHelpers.Client(IPAddress.IPv6Loopback);
        Assert.Equal("v4"u8.ToArray(), await v4.EchoDatagramAsync(new IPEndPoint(IPAddress.Loopback, port), "v4"u8.ToArray()));
        Assert.Equal("v6"u8.ToArray(), await v6.EchoDatagramAsync(new IPEndPoint(IPAddress.IPv6Loopback, port), "v6"u8.ToArray()));
    }

    [Fact]
    public async Task A_blocked_source_port_gets_no_answer_and_is_counted()
    {
        using var blocked = UdpTestHelpers.Client();
        using var allowed = UdpTestHelpers.Client();
        var blockedPort = ((IPEndPoint)blocked.LocalEndPoint!).Port;
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.BlockedSourcePorts.Add(blockedPort)));
        var endPoint = server.UdpEndPoint();

        await blocked.SendToAsync("loop?"u8.ToArray(), SocketFlags.None, endPoint);
        Assert.Equal("ok"u8.ToArray(), await allowed.EchoDatagramAsync(endPoint, "ok"u8.ToArray()));

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsBlocked == 1, "the blocked datagram to be counted");
        Assert.Null(await blocked.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));
        var stats = server.GetStatistics();
        Assert.Equal(2, stats.DatagramsReceived);
        Assert.Equal(1, stats.DatagramsEchoed);
        Assert.Equal(1, stats.DatagramsDropped);
    }

    [SkippableFact]
    public async Task By_default_chargen_port_19_is_blocked()
    {
        Socket chargen;
        try
        {
            chargen = UdpTestHelpers.Client(IPAddress.Loopback, 19);
        }
        catch (SocketException ex)
        {
            Skip.If(true, $"cannot bind 127.0.0.1:19 here ({ex.SocketErrorCode}); ports below 1024 need root");
            throw;
        }

        using (chargen)
        {
            await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions());
            Assert.Contains(19, new EchoServerOptions().Udp.BlockedSourcePorts);

            await chargen.SendToAsync(new byte[72], SocketFlags.None, server.UdpEndPoint());

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsBlocked == 1, "the datagram from port 19 to be counted");
            Assert.Null(await chargen.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));
            Assert.Equal(0, server.GetStatistics().DatagramsEchoed);
        }
    }

    [Fact]
    public async Task A_datagram_from_the_listeners_own_port_is_never_answered()
    {
        // Two echo services on one port would echo a forged datagram between them forever.
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.BlockedSourcePorts.Clear()));
        var endPoint = server.UdpEndPoint();
        using var twin = UdpTestHelpers.Client(IPAddress.Parse("127.0.0.2"), endPoint.Port);

        await twin.SendToAsync("ping"u8.ToArray(), SocketFlags.None, endPoint);

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsBlocked == 1, "the datagram to be counted as blocked");
        Assert.Null(await twin.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));
    }

    [Fact]
    public async Task The_per_source_rate_limit_drops_datagrams_beyond_the_bucket_and_counts_them()
    {
        const int Rate = 3;
        const int Sent = 40;
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.PerSourceRateLimit = Rate));
        var endPoint = server.UdpEndPoint();
        using var flooder = UdpTestHelpers.Client();
        using var other = UdpTestHelpers.Client(IPAddress.Parse("127.0.0.3"));

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Sent; i++)
        {
            await flooder.SendToAsync(new[] { (byte)i }, SocketFlags.None, endPoint);
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsReceived == Sent, "every datagram to arrive");
        var elapsed = clock.Elapsed;

        // The bucket holds one second's worth (Rate) and refills at Rate per second while the burst lasts.
        var stats = server.GetStatistics();
        var allowed = Rate + (int)Math.Ceiling(elapsed.TotalSeconds * Rate);
        Assert.InRange(stats.DatagramsEchoed, Rate, allowed);
        Assert.Equal(Sent - stats.DatagramsEchoed, stats.DatagramsRateLimited);
        var answers = 0;
        while (await flooder.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait) is not null)
        {
            answers++;
        }

        Assert.Equal(stats.DatagramsEchoed, answers);

        // Another source has its own bucket.
        Assert.Equal("mine"u8.ToArray(), await other.EchoDatagramAsync(endPoint, "mine"u8.ToArray()));
    }

    [Fact]
    public async Task An_oversized_datagram_is_counted_and_not_echoed_cut_short()
    {
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.MaxDatagramSize = 100));
        var endPoint = server.UdpEndPoint();
        using var client = UdpTestHelpers.Client();

        await client.SendToAsync(new byte[101], SocketFlags.None, endPoint);
        await client.SendToAsync(new byte[5000], SocketFlags.None, endPoint);
        await client.SendToAsync(new byte[65_000], SocketFlags.None, endPoint);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsOversized == 3, "three oversized datagrams to be counted");
        Assert.Null(await client.ReceiveDatagramAsync(UdpTestHelpers.NoAnswerWait));

        var exact = TestHelpers.RandomBytes(100, seed: 100);
        Assert.Equal(exact, await client.EchoDatagramAsync(endPoint, exact));

        // The server counts an echo when its send has completed, which can be just after the client has read it.
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().DatagramsEchoed == 1, "the echo to be counted");
        var stats = server.GetStatistics();
        Assert.Equal(4, stats.DatagramsReceived);
        Assert.Equal(1, stats.DatagramsEchoed);
        Assert.Equal(100 * 4, stats.BytesReceived);
    }

    [Fact]
    public async Task Stop_closes_the_udp_socket_so_the_port_is_free_again()
    {
        var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions());
        var endPoint = server.UdpEndPoint();
        using (var client = UdpTestHelpers.Client())
        {
            Assert.Equal(new byte[] { 1 }, await client.EchoDatagramAsync(endPoint, [1]));
        }

        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rebind.Bind(endPoint);
        Assert.Equal(1, server.GetStatistics().DatagramsEchoed);
    }

    [Fact]
    public void The_rate_limiter_table_is_fixed_and_keeps_a_throttled_source_through_a_flood_of_forged_ones()
    {
        var limiter = new UdpRateLimiter(datagramsPerSecond: 1, trackedSources: 64);
        Assert.Equal(64, limiter.Capacity);
        var victim = new UdpSourceKey(0, 0xFFFF_7F00_0001UL);
        Assert.True(limiter.TryTake(victim));
        Assert.False(limiter.TryTake(victim));

        // 100,000 forged sources: each is new, so each gets a full bucket, in the same fixed table.
        for (ulong i = 0; i < 100_000; i++)
        {
            Assert.True(limiter.TryTake(new UdpSourceKey(0x2001_0db8_0000_0000UL, i)));
        }

        Assert.Equal(64, limiter.Capacity);

        // The victim's empty bucket was never the fullest in its set, so it was not forgotten.
        Assert.False(limiter.TryTake(victim));
    }
}
