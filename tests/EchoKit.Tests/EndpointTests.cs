using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>Binding: IPv4, IPv6, dual mode, several endpoints, port 0, ports in use, and Unix domain sockets.</summary>
public class EndpointTests
{
    [Fact]
    public async Task Port_0_reports_the_real_port_and_it_accepts_connections()
    {
        await using var server = await TestHelpers.StartAsync();
        var accepted = TrackAccepted(server);

        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(server.EndPoints));
        Assert.NotEqual(0, endPoint.Port);
        Assert.Equal(IPAddress.Loopback, endPoint.Address);

        using var client = await TestHelpers.ConnectAsync(endPoint);
        await AssertEchoesAsync(client, seed: 1);
        Assert.Equal(endPoint, client.RemoteEndPoint);
        await TestHelpers.WaitUntilAsync(() => !accepted.IsEmpty, "the accept event");
        Assert.Equal(endPoint, Assert.Single(accepted).LocalEndPoint);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [IPv6Fact]
    public async Task IPv6_loopback_echoes()
    {
        await using var server = await TestHelpers.StartAsync(Options(new IPEndPoint(IPAddress.IPv6Loopback, 0)));

        var endPoint = server.EndPoint();
        Assert.Equal(AddressFamily.InterNetworkV6, endPoint.AddressFamily);
        Assert.Equal(IPAddress.IPv6Loopback, endPoint.Address);
        Assert.NotEqual(0, endPoint.Port);

        using var client = await TestHelpers.ConnectAsync(endPoint);
        await AssertEchoesAsync(client, seed: 2);
        await CloseAndAssertPoolsAsync(server, client);
    }

    [IPv6Fact]
    public async Task Dual_mode_IPv6Any_accepts_an_IPv4_client_on_the_same_port()
    {
        await using var server = await TestHelpers.StartAsync(Options(new IPEndPoint(IPAddress.IPv6Any, 0), o => o.DualMode = true));
        var accepted = TrackAccepted(server);
        var port = server.EndPoint().Port;
        Assert.NotEqual(0, port);

        using var v4 = await TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await AssertEchoesAsync(v4, seed: 3);
        using var v6 = await TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
        await AssertEchoesAsync(v6, seed: 4);

        await TestHelpers.WaitUntilAsync(() => accepted.Count == 2, "two accept events");
        // The IPv4 client reaches the IPv6 socket as an IPv4-mapped address (::ffff:127.0.0.1).
        var v4Client = (IPEndPoint)v4.LocalEndPoint!;
        var v4AsSeenByServer = new IPEndPoint(v4Client.Address.MapToIPv6(), v4Client.Port);
        Assert.Single(accepted, e => v4AsSeenByServer.Equals(e.RemoteEndPoint));
        Assert.Single(accepted, e => v6.LocalEndPoint!.Equals(e.RemoteEndPoint));
        await CloseAndAssertPoolsAsync(server, v4, v6);
    }

    [IPv6Fact]
    public async Task Without_dual_mode_IPv6Any_refuses_IPv4_clients()
    {
        await using var server = await TestHelpers.StartAsync(Options(new IPEndPoint(IPAddress.IPv6Any, 0), o => o.DualMode = false));
        var port = server.EndPoint().Port;

        var ex = await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);

        using var v6 = await TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
        await AssertEchoesAsync(v6, seed: 5);
        await CloseAndAssertPoolsAsync(server, v6);
    }

    [IPv6Fact]
    public async Task Several_endpoints_at_once_all_echo()
    {
        var options = Options(new IPEndPoint(IPAddress.Loopback, 0));
        options.EndPoints.Add(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        await using var server = await TestHelpers.StartAsync(options);
        var accepted = TrackAccepted(server);

        Assert.Equal(2, server.EndPoints.Count);
        var v4 = server.EndPoint(0);
        var v6 = server.EndPoint(1);
        Assert.Equal(IPAddress.Loopback, v4.Address);
        Assert.Equal(IPAddress.IPv6Loopback, v6.Address);
        Assert.NotEqual(0, v4.Port);
        Assert.NotEqual(0, v6.Port);

        using var c4 = await TestHelpers.ConnectAsync(v4);
        using var c6 = await TestHelpers.ConnectAsync(v6);
        await Task.WhenAll(AssertEchoesAsync(c4, seed: 6), AssertEchoesAsync(c6, seed: 7));

        await TestHelpers.WaitUntilAsync(() => accepted.Count == 2, "two accept events");
        Assert.Contains(accepted, e => v4.Equals(e.LocalEndPoint));
        Assert.Contains(accepted, e => v6.Equals(e.LocalEndPoint));
        Assert.Equal(2, server.GetStatistics().AcceptedConnections);
        await CloseAndAssertPoolsAsync(server, c4, c6);
    }

    [Fact]
    public async Task Port_in_use_fails_start_with_an_IOException_naming_the_endpoint()
    {
        using var squatter = ListenOnLoopback();
        var port = ((IPEndPoint)squatter.LocalEndPoint!).Port;
        await using var server = new EchoServer(Options(new IPEndPoint(IPAddress.Loopback, port)));

        var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("in use", ex.Message, StringComparison.Ordinal);
        var inner = Assert.IsType<SocketException>(ex.InnerException);
        Assert.Equal(SocketError.AddressAlreadyInUse, inner.SocketErrorCode);
        Assert.Empty(server.EndPoints);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync());
    }

    [Fact]
    public async Task A_failed_bind_leaves_no_other_endpoint_bound()
    {
        // Hold a free port with a bound, non-listening, address-reusable socket, so no one else takes it
        // while the server may bind and listen on it; a second listener on it is then refused by the kernel.
        using var reservation = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        reservation.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        reservation.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var freePort = ((IPEndPoint)reservation.LocalEndPoint!).Port;
        using var squatter = ListenOnLoopback();
        var busyPort = ((IPEndPoint)squatter.LocalEndPoint!).Port;

        var options = Options(new IPEndPoint(IPAddress.Loopback, freePort));
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, busyPort));
        await using (var server = new EchoServer(options))
        {
            var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

            // The second endpoint is the one that failed, so the first had been bound and listening.
            Assert.Contains($"127.0.0.1:{busyPort}", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain($"127.0.0.1:{freePort}", ex.Message, StringComparison.Ordinal);
            Assert.Empty(server.EndPoints);

            // Nothing listens on the first port any more, and it can be bound and listened on again.
            var refused = await Assert.ThrowsAsync<SocketException>(() => TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.Loopback, freePort)));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
            using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            rebind.Bind(new IPEndPoint(IPAddress.Loopback, freePort));
            rebind.Listen();
        }

        // The squatter was not disturbed.
        using var probe = await TestHelpers.ConnectAsync(new IPEndPoint(IPAddress.Loopback, busyPort));
        Assert.True(probe.Connected);
    }

    [Fact]
    public async Task Unix_domain_socket_echoes_and_its_file_is_removed_after_stop()
    {
        var path = Path.Combine(Path.GetTempPath(), $"echokit-{Guid.NewGuid():N}.sock");
        try
        {
            await using var server = await TestHelpers.StartAsync(Options(new UnixDomainSocketEndPoint(path)));
            var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
            server.ConnectionClosed += (_, e) => closed.Enqueue(e);

            Assert.IsType<UnixDomainSocketEndPoint>(Assert.Single(server.EndPoints));
            Assert.True(File.Exists(path), "the socket file should exist while the server runs");

            using (var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                using (var cts = new CancellationTokenSource(TestHelpers.Timeout))
                {
                    await client.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token);
                }

                await AssertEchoesAsync(client, seed: 8);
                client.Shutdown(SocketShutdown.Send);
                Assert.Empty(await client.ReceiveToEndAsync());
            }

            await TestHelpers.WaitUntilAsync(() => !closed.IsEmpty, "the close event");
            var e = Assert.Single(closed);
            Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
            Assert.Equal(e.BytesReceived, e.BytesSent);
            Assert.True(e.BytesSent > 0);
            await server.AssertPoolsReturnedAsync();

            await server.StopAsync().WaitAsync(TestHelpers.Timeout);
            Assert.False(File.Exists(path), "the socket file should be removed after StopAsync");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static EchoServerOptions Options(EndPoint endPoint, Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { EndPoints = { endPoint } };
        configure?.Invoke(options);
        return options;
    }

    private static Socket ListenOnLoopback()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        return socket;
    }

    private static ConcurrentQueue<ConnectionAcceptedEventArgs> TrackAccepted(EchoServer server)
    {
        var accepted = new ConcurrentQueue<ConnectionAcceptedEventArgs>();
        server.ConnectionAccepted += (_, e) => accepted.Enqueue(e);
        return accepted;
    }

    /// <summary>Sends 256 KiB while reading it back concurrently and checks it byte for byte.</summary>
    private static async Task AssertEchoesAsync(Socket client, int seed)
    {
        var payload = TestHelpers.RandomBytes(256 * 1024, seed);
        var echoed = new byte[payload.Length];
        var receive = client.ReceiveExactlyAsync(echoed);
        await client.SendAllAsync(payload);
        await receive;
        Assert.True(echoed.AsSpan().SequenceEqual(payload), "the echo differs from what was sent");
    }

    /// <summary>Half-closes each client, expects a clean end of stream, then checks nothing leaked.</summary>
    private static async Task CloseAndAssertPoolsAsync(EchoServer server, params Socket[] clients)
    {
        foreach (var client in clients)
        {
            client.Shutdown(SocketShutdown.Send);
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            Assert.Equal(0, await client.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token));
        }

        await server.AssertPoolsReturnedAsync();
    }

    /// <summary>A fact skipped, with the reason shown, when the machine has no IPv6.</summary>
    private sealed class IPv6FactAttribute : FactAttribute
    {
        public IPv6FactAttribute()
        {
            if (!Socket.OSSupportsIPv6)
            {
                Skip = "This machine has no IPv6 (Socket.OSSupportsIPv6 is false), so IPv6 endpoints cannot be tested.";
            }
        }
    }
}
