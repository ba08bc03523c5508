using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace EchoKit.Tests;

/// <summary>In the allocation tests' collection: it measures the whole process's allocations, which other tests would disturb.</summary>
[Collection(nameof(AllocationTests))]
public class UdpAllocationTests(ITestOutputHelper output)
{
    private const int Clients = 4;
    private const int DatagramsPerClient = 15_000;

    [Fact]
    public async Task Steady_state_udp_echo_allocates_nothing_per_datagram_even_as_sources_alternate()
    {
        // The rate limiter stays on (with a limit never reached), so its path is measured too.
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions(o => o.Udp.PerSourceRateLimit = 100_000_000));
        var endPoint = server.UdpEndPoint();
        var clients = new Socket[Clients];
        for (var i = 0; i < Clients; i++)
        {
            // Connected, blocking and only ever used synchronously: the client side allocates nothing per datagram.
            clients[i] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 10_000 };
            clients[i].Connect(endPoint);
        }

        // Warm up: JIT, tiering, the runtime's per-socket async state, every receive slot.
        RunClients(clients, 2_000);

        // The test host allocates now and then on its own threads; the quieter of two runs is the figure.
        var allocated = long.MaxValue;
        for (var run = 0; run < 2; run++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            RunClients(clients, DatagramsPerClient);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        var datagrams = Clients * DatagramsPerClient;
        output.WriteLine($"FIGURE udp allocation: {allocated} bytes for {datagrams} echoed datagrams from {Clients} alternating sources ({(double)allocated / datagrams:F3} B/datagram)");
        Assert.True(
            allocated < 48 * 1024,
            $"{allocated} bytes allocated for {datagrams} echoed datagrams ({(double)allocated / datagrams:F2} B/datagram); expected a small constant, not growth per datagram.");
        Array.ForEach(clients, c => c.Dispose());
        Assert.Equal(0, server.GetStatistics().DatagramsDropped);
    }

    /// <summary>Ping-pong on each client from its own thread with blocking, allocation-free socket calls.</summary>
    private static void RunClients(Socket[] clients, int datagrams) =>
        TestHelpers.RunOnThreads(
            clients,
            client =>
            {
                var send = new byte[32];
                var receive = new byte[64];
                for (var d = 0; d < datagrams; d++)
                {
                    send[0] = (byte)d;
                    client.Send(send);
                    var n = client.Receive(receive);
                    if (n != send.Length || receive[0] != send[0])
                    {
                        throw new InvalidOperationException("echo mismatch");
                    }
                }
            },
            "a client failed (a lost datagram times out after 10 s)");
}
