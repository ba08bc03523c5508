using System.Net.Sockets;
using Xunit.Abstractions;

namespace EchoKit.Tests;

/// <summary>Runs alone: it measures the whole process's allocations, which other tests would disturb.</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public class AllocationTestsDefinition;

[Collection(nameof(AllocationTests))]
public class AllocationTests(ITestOutputHelper output)
{
    private const int Connections = 4;
    private const int MessagesPerConnection = 25_000;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public Task Steady_state_echo_allocates_nothing_per_message(bool waitForData) =>
        AssertNoAllocationPerMessageAsync(TestHelpers.LoopbackOptions(o => o.WaitForDataBeforeAllocatingBuffer = waitForData), MessagesPerConnection);

    /// <summary>
    /// A faulted echo holds its buffer and parks on the connection's one timer: still nothing allocated per message.
    /// Fewer messages, since each waits for its delay (the threshold is still far below one object per message).
    /// </summary>
    [Theory]
    [InlineData("latency:delay=1ms,jitter=1ms", 1_500)]
    [InlineData("slice:size=1-8,delay=0s", 10_000)]
    [InlineData("slice:size=8,delay=1ms", 500)]
    [InlineData("limit:bytes=1GiB", 10_000)]
    public Task Faulted_echo_allocates_nothing_per_message(string rule, int messages) =>
        AssertNoAllocationPerMessageAsync(TestHelpers.LoopbackOptions(o => o.Faults.Add(EchoFault.Parse(rule))), messages);

    /// <summary>
    /// Through a fault proxy to an echo server in the same process: each message crosses both relays of the proxy and
    /// the echo, and the whole process still allocates nothing per message.
    /// </summary>
    [Theory]
    [InlineData(null, MessagesPerConnection / 2)]
    [InlineData("latency:delay=1ms,stream=upstream", 1_000)]
    [InlineData("slice:size=1-8,delay=0s", 5_000)]
    public async Task Relayed_messages_allocate_nothing_per_message(string? rule, int messages)
    {
        await using var upstream = await TestHelpers.StartAsync();
        var options = new FaultProxyOptions { Upstream = upstream.EndPoint(), FaultSeed = 1 };
        options.EndPoints.Add(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        if (rule is not null)
        {
            options.Faults.Add(EchoFault.Parse(rule));
        }

        await using var proxy = new FaultProxy(options);
        await proxy.StartAsync();
        await AssertNoAllocationPerMessageAsync((System.Net.IPEndPoint)proxy.EndPoints[0], messages);
        await TestHelpers.WaitUntilAsync(() => proxy.PoolOutstanding == (0, 0), $"the proxy's pools back to baseline ({proxy.PoolOutstanding})");
        await upstream.AssertPoolsReturnedAsync();
    }

    private async Task AssertNoAllocationPerMessageAsync(EchoServerOptions options, int messagesPerConnection)
    {
        await using var server = await TestHelpers.StartAsync(options);
        await AssertNoAllocationPerMessageAsync(server.EndPoint(), messagesPerConnection);
        await server.AssertPoolsReturnedAsync();
    }

    private async Task AssertNoAllocationPerMessageAsync(System.Net.IPEndPoint endPoint, int messagesPerConnection)
    {
        var clients = new Socket[Connections];
        for (var i = 0; i < Connections; i++)
        {
            // A socket only ever used synchronously stays in blocking mode, where the runtime's sync calls
            // allocate nothing; a socket used asynchronously allocates for every sync call that would block.
            clients[i] = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            clients[i].Connect(endPoint);
        }

        // Warm up: JIT, tiering, pools, the runtime's per-socket async state.
        RunClients(clients, Math.Min(2_000, messagesPerConnection));

        // The test host allocates now and then on its own threads; a per-message allocation in the engine
        // would show in every run, so the quietest of three runs is the figure.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            RunClients(clients, messagesPerConnection);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        var messages = Connections * messagesPerConnection;
        output.WriteLine($"{allocated} bytes allocated for {messages} echoed messages ({(double)allocated / messages:F2} B/message).");
        Assert.True(
            allocated < 64 * 1024,
            $"{allocated} bytes allocated for {messages} echoed messages ({(double)allocated / messages:F2} B/message); expected a small constant, not growth per message.");
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    /// <summary>Ping-pong on each connection from its own thread with blocking, allocation-free socket calls.</summary>
    private static void RunClients(Socket[] clients, int messages) =>
        TestHelpers.RunOnThreads(clients, client =>
        {
            var send = new byte[32];
            var receive = new byte[32];
            for (var m = 0; m < messages; m++)
            {
                send[0] = (byte)m;
                client.Send(send);
                var got = 0;
                while (got < receive.Length)
                {
                    var n = client.Receive(receive.AsSpan(got));
                    if (n == 0)
                    {
                        throw new InvalidOperationException("server closed");
                    }

                    got += n;
                }

                if (receive[0] != send[0])
                {
                    throw new InvalidOperationException("echo mismatch");
                }
            }
        });
}
