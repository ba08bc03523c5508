using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace EchoKit.Tests;

/// <summary>One EchoServer listening on TCP, UDP, TLS and a Unix socket file at once: each echoes, each is reported and counted with its transport.</summary>
public sealed class UdpTcpTlsUnixMixedServerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("echokit-mixed-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task One_server_echoes_on_every_transport_and_counts_each_separately()
    {
        var path = Path.Combine(_directory, "echo.sock");
        var options = TlsTestHelpers.TlsOptions();
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        options.EndPoints.Add(new UnixDomainSocketEndPoint(path));
        options.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        using var meterFactory = new TransportMeterFactory();
        using var received = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.bytes_received");
        using var datagrams = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.datagrams_received");
        using var dropped = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.dropped_datagrams");
        await using var server = new EchoServer(options, meterFactory: meterFactory);
        await server.StartAsync();

        // Listeners in the order EndPoints, UdpEndPoints, TlsEndPoints; EndPoints is the same list without transports.
        Assert.Equal([EchoTransport.Tcp, EchoTransport.Unix, EchoTransport.Udp, EchoTransport.Tls], server.Listeners.Select(l => l.Transport));
        Assert.Equal(server.Listeners.Select(l => l.EndPoint), server.EndPoints);
        var tcpEndPoint = (IPEndPoint)server.Listeners[0].EndPoint;
        Assert.StartsWith("tcp 127.0.0.1:", server.Listeners[0].ToString(), StringComparison.Ordinal);

        using (var tcp = await TestHelpers.ConnectAsync(tcpEndPoint))
        {
            Assert.Equal(TestHelpers.RandomBytes(100, 1), await tcp.EchoAsync(TestHelpers.RandomBytes(100, 1)));
        }

        using (var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            await unix.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token);
            Assert.Equal(TestHelpers.RandomBytes(200, 2), await unix.EchoAsync(TestHelpers.RandomBytes(200, 2)));
        }

        using (var udp = UdpTestHelpers.Client())
        {
            Assert.Equal(TestHelpers.RandomBytes(300, 3), await udp.EchoDatagramAsync(server.UdpEndPoint(), TestHelpers.RandomBytes(300, 3)));
        }

        var (tls, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (tls)
        {
            await tls.WriteAllAsync(TestHelpers.RandomBytes(400, 4));
            var echo = new byte[400];
            await tls.ReadExactlyWithinAsync(echo);
            Assert.Equal(TestHelpers.RandomBytes(400, 4), echo);
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 0, "the connections to close");
        Assert.Equal((1, 100), Counts(server.GetStatistics(EchoTransport.Tcp)));
        Assert.Equal((1, 200), Counts(server.GetStatistics(EchoTransport.Unix)));
        Assert.Equal((1, 400), Counts(server.GetStatistics(EchoTransport.Tls)));
        var udpStats = server.GetStatistics(EchoTransport.Udp);
        Assert.Equal((0, 300, 1L, 1L), (udpStats.AcceptedConnections, udpStats.BytesSent, udpStats.DatagramsReceived, udpStats.DatagramsEchoed));
        var all = server.GetStatistics();
        Assert.Equal((3, 1000, 1000, 1L), (all.AcceptedConnections, all.BytesReceived, all.BytesSent, all.DatagramsEchoed));

        received.RecordObservableInstruments();
        var byTransport = received.GetMeasurementSnapshot()
            .GroupBy(m => (string)m.Tags["network.transport"]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(new Dictionary<string, long> { ["tcp"] = 100 + 400, ["unix"] = 200, ["udp"] = 300 }, byTransport);
        datagrams.RecordObservableInstruments();
        Assert.Equal(1, Assert.Single(datagrams.GetMeasurementSnapshot()).Value);
        dropped.RecordObservableInstruments();
        Assert.Equal(
            ["blocked_source", "fault_injected", "oversized", "rate_limited", "send_failed"],
            dropped.GetMeasurementSnapshot().Select(m => (string)m.Tags["echokit.drop_reason"]!).Order());
        Assert.All(dropped.GetMeasurementSnapshot(), m => Assert.Equal(0, m.Value));

        await server.StopAsync().WaitAsync(TestHelpers.Timeout);
        Assert.False(File.Exists(path), "the socket file should be removed after StopAsync");
        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rebind.Bind(server.UdpEndPoint());

        static (long Accepted, long Bytes) Counts(EchoServerStatistics stats)
        {
            Assert.Equal(stats.BytesReceived, stats.BytesSent);
            return (stats.AcceptedConnections, stats.BytesSent);
        }
    }

    [Fact]
    public async Task A_failed_bind_on_any_transport_leaves_nothing_bound()
    {
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var busy = (IPEndPoint)squatter.LocalEndPoint!;
        var path = Path.Combine(_directory, "first.sock");
        var options = TlsTestHelpers.TlsOptions();
        options.EndPoints.Add(new UnixDomainSocketEndPoint(path));
        options.UdpEndPoints.Add(busy);
        await using var server = new EchoServer(options);

        var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Contains($"UDP to {busy}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("in use", ex.Message, StringComparison.Ordinal);
        Assert.Empty(server.Listeners);
        Assert.False(File.Exists(path), "the Unix socket bound before the failure should be closed and its file removed");
    }
}
