using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// The PROXY protocol over real sockets: the header is consumed and its addresses become the connection's; a
/// connection without a valid one is rejected, never echoed. Headers claim 127.0.0.x addresses other than the
/// client's real 127.0.0.1, so the tests can tell them apart (nothing ever connects to them).
/// </summary>
public sealed class ProxyProtocolTests : IDisposable
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("127.0.0.9"), 40001);
    private static readonly IPEndPoint Destination = new(IPAddress.Parse("127.0.0.10"), 7);

    private readonly string _directory = Directory.CreateTempSubdirectory("echokit-proxy-").FullName;
    private readonly ConcurrentQueue<ConnectionAcceptedEventArgs> _accepted = new();
    private readonly ConcurrentQueue<ConnectionRejectedEventArgs> _rejected = new();
    private readonly FakeLogCollector _logs = new();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_v1_header_is_consumed_and_its_addresses_become_the_connections()
    {
        await using var server = await StartAsync();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(1000, seed: 21);

        // Header and data in one write: the bytes after the header are the client's, echoed as usual.
        await client.SendAllAsync(ProxyHeaderBuilder.Concat(ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 127.0.0.10 40001 7\r\n"), payload));
        var echoed = new byte[payload.Length];
        await client.ReceiveExactlyAsync(echoed);

        Assert.Equal(payload, echoed);
        var accepted = await SingleAcceptedAsync();
        Assert.Equal(Client, accepted.RemoteEndPoint);
        Assert.Equal(Destination, accepted.LocalEndPoint);
        client.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReceiveToEndAsync());
        await server.AssertPoolsReturnedAsync();
        Assert.Equal(1000, server.GetStatistics().BytesReceived);
        Assert.Equal((1, 0), (server.GetStatistics().AcceptedConnections, server.GetStatistics().RejectedConnections));
    }

    [Fact]
    public async Task A_v2_header_arriving_byte_by_byte_then_data_works_on_IPv6_addresses()
    {
        await using var server = await StartAsync();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var source = new IPEndPoint(IPAddress.Parse("2001:db8::1"), 50000);
        var header = ProxyHeaderBuilder.V2Proxy(source, new IPEndPoint(IPAddress.IPv6Loopback, 7), (0x05, [1, 2, 3]));

        foreach (var b in header)
        {
            await client.SendAllAsync(new[] { b });
            await Task.Delay(2);
        }

        Assert.Equal([4, 5, 6], await client.EchoAsync([4, 5, 6]));
        Assert.Equal(source, (await SingleAcceptedAsync()).RemoteEndPoint);
    }

    [Fact]
    public async Task A_LOCAL_header_keeps_the_sockets_own_addresses()
    {
        await using var server = await StartAsync();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        await client.SendAllAsync(ProxyHeaderBuilder.V2(0x20, 0x00));
        Assert.Equal([1], await client.EchoAsync([1]));

        var accepted = await SingleAcceptedAsync();
        Assert.Equal(client.LocalEndPoint, accepted.RemoteEndPoint);
        Assert.Equal(server.EndPoint(), accepted.LocalEndPoint);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n")]
    [InlineData("PROXY TCP4 127.0.0.9 127.0.0.10 99999 7\r\n")]
    [InlineData("PROXY TCP5 127.0.0.9 127.0.0.10 1 7\r\n")]
    public async Task A_connection_without_a_valid_header_is_rejected_and_nothing_is_echoed(string start)
    {
        await using var server = await StartAsync();
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        await client.SendAllAsync(ProxyHeaderBuilder.V1(start + "hello"));
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        var rejected = await SingleRejectedAsync();
        Assert.Equal(ConnectionRejectionReason.ProxyHeaderInvalid, rejected.Reason);
        Assert.Equal(client.LocalEndPoint, rejected.RemoteEndPoint);
        Assert.Empty(_accepted);
        await server.AssertPoolsReturnedAsync();
        Assert.Equal((0, 1, 0), (server.GetStatistics().AcceptedConnections, server.GetStatistics().RejectedConnections, server.GetStatistics().BytesReceived));
        var warning = Assert.Single(_logs.GetSnapshot(), r => r.Id.Id == 49);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("ProxyHeaderInvalid", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_closes_before_its_header_is_complete_is_rejected()
    {
        await using var server = await StartAsync();
        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await client.SendAllAsync(ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 "));
            client.Shutdown(SocketShutdown.Send);
            Assert.Empty(await client.ReceiveToEndAsync());
        }

        Assert.Equal(ConnectionRejectionReason.ProxyHeaderInvalid, (await SingleRejectedAsync()).Reason);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_header_slower_than_the_timeout_is_rejected()
    {
        await using var server = await StartAsync(o => o.ProxyProtocol.HeaderTimeout = TimeSpan.FromMilliseconds(300));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var started = Stopwatch.StartNew();

        await client.SendAllAsync(ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9"));
        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(300), $"closed after {started.Elapsed}");
        Assert.Equal(ConnectionRejectionReason.ProxyHeaderTimeout, (await SingleRejectedAsync()).Reason);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_connection_from_outside_the_trusted_networks_is_rejected_at_accept()
    {
        await using var server = await StartAsync(o => o.ProxyProtocol.TrustedNetworks.Add(IPNetwork.Parse("10.0.0.0/8")));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        var (data, _, end) = await ReadAsync(client, int.MaxValue);

        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        Assert.Equal(ConnectionRejectionReason.ProxyUntrusted, (await SingleRejectedAsync()).Reason);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_trusted_balancer_is_served()
    {
        await using var server = await StartAsync(o => o.ProxyProtocol.TrustedNetworks.Add(IPNetwork.Parse("127.0.0.0/8")));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        await client.SendAllAsync(ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 127.0.0.10 40001 7\r\n"));

        Assert.Equal([3], await client.EchoAsync([3]));
    }

    [Fact]
    public async Task The_per_address_limit_counts_the_clients_named_by_the_headers_not_the_balancer()
    {
        await using var server = await StartAsync(o => o.MaxConnectionsPerAddress = 1);
        using var first = await ConnectProxiedAsync(server, "127.0.0.9");
        Assert.Equal([1], await first.EchoAsync([1]));

        using var second = await ConnectProxiedAsync(server, "127.0.0.9");
        var (data, _, end) = await ReadAsync(second, int.MaxValue);
        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        Assert.Equal(ConnectionRejectionReason.MaxConnectionsPerAddressExceeded, (await SingleRejectedAsync()).Reason);

        // Another client behind the same balancer (the same socket address) has its own slot.
        using var third = await ConnectProxiedAsync(server, "127.0.0.11");
        Assert.Equal([3], await third.EchoAsync([3]));
    }

    [Fact]
    public async Task The_fault_selector_sees_the_client_the_header_names()
    {
        var seen = new ConcurrentQueue<EndPoint?>();
        await using var server = await StartAsync(o => o.FaultSelector = c =>
        {
            seen.Enqueue(c.RemoteEndPoint);
            return null;
        });
        using var client = await ConnectProxiedAsync(server, "127.0.0.9");
        Assert.Equal([1], await client.EchoAsync([1]));

        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.9"), 40001)], seen);
    }

    [Fact]
    public async Task A_stop_does_not_wait_for_a_header_that_has_not_come()
    {
        await using var server = await StartAsync(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 1, "the connection admitted");

        var stopping = Stopwatch.StartNew();
        await server.StopAsync().WaitAsync(TestHelpers.Timeout);

        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {stopping.Elapsed}");
        Assert.Equal(ConnectionRejectionReason.ServerStopping, (await SingleRejectedAsync()).Reason);
        Assert.Equal((0, 0), server.PoolOutstanding);
    }

    [Fact]
    public async Task A_Unix_socket_listener_takes_a_header_too()
    {
        var path = Path.Combine(_directory, "proxy.sock");
        await using var server = await StartAsync(o =>
        {
            o.EndPoints.Clear();
            o.EndPoints.Add(new UnixDomainSocketEndPoint(path));
        });
        using var client = await SocketTestHelpers.ConnectAsync(new UnixDomainSocketEndPoint(path));

        await client.SendAllAsync(ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 127.0.0.10 40001 7\r\n"));

        Assert.Equal([5, 6], await client.EchoAsync([5, 6]));
        Assert.Equal(Client, (await SingleAcceptedAsync()).RemoteEndPoint);
    }

    private static async Task<Socket> ConnectProxiedAsync(EchoServer server, string clientAddress)
    {
        var socket = await TestHelpers.ConnectAsync(server.EndPoint());
        await socket.SendAllAsync(ProxyHeaderBuilder.V1($"PROXY TCP4 {clientAddress} 127.0.0.10 40001 7\r\n"));
        return socket;
    }

    private async Task<EchoServer> StartAsync(Action<EchoServerOptions>? configure = null)
    {
        var factory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(_logs)));
        var server = new EchoServer(TestHelpers.LoopbackOptions(o =>
        {
            o.ProxyProtocol.Enabled = true;
            configure?.Invoke(o);
        }), factory);
        server.ConnectionAccepted += (_, e) => _accepted.Enqueue(e);
        server.ConnectionRejected += (_, e) => _rejected.Enqueue(e);
        await server.StartAsync();
        return server;
    }

    private async Task<ConnectionAcceptedEventArgs> SingleAcceptedAsync()
    {
        await TestHelpers.WaitUntilAsync(() => !_accepted.IsEmpty, "the accepted event");
        return Assert.Single(_accepted);
    }

    private async Task<ConnectionRejectedEventArgs> SingleRejectedAsync()
    {
        await TestHelpers.WaitUntilAsync(() => !_rejected.IsEmpty, "the rejected event");
        return Assert.Single(_rejected);
    }
}
