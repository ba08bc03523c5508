using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using static EchoKit.Tests.FaultInjectionTests;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// Changing the rules of a running server (<see cref="EchoServer.Faults"/>) and picking them per connection
/// (<see cref="EchoServerOptions.FaultSelector"/>), over real sockets. A change reaches new connections at once and
/// live ones at their next echo; what a connection got at accept from the selector stays.
/// </summary>
public sealed class FaultRuntimeTests
{
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(700);

    [Fact]
    public async Task A_replaced_rule_reaches_a_live_connection_at_its_next_echo_and_a_clear_removes_it()
    {
        await using var server = await StartAsync([], configure: null);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Equal([1], await client.EchoAsync([1]));

        server.Faults.Replace([EchoFault.Latency(Slow)]);
        var started = Stopwatch.StartNew();
        Assert.Equal([2], await client.EchoAsync([2]));
        Assert.True(started.Elapsed >= Slow, $"the echo after the change took {started.Elapsed}");

        server.Faults.Clear();
        // The echo that takes the clear up is the first without the delay.
        started.Restart();
        Assert.Equal([3], await client.EchoAsync([3]));
        Assert.True(started.Elapsed < Slow, $"the echo after the clear took {started.Elapsed}");
        Assert.Empty(server.Faults.Rules);
    }

    [Fact]
    public async Task A_live_connection_keeps_its_reset_from_accept_when_the_per_echo_rules_change()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["reset:after=1500ms"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Equal([1], await client.EchoAsync([1]));

        server.Faults.Replace([EchoFault.Latency(TimeSpan.FromMilliseconds(200))]);
        var started = Stopwatch.StartNew();
        Assert.Equal([2], await client.EchoAsync([2]));

        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(200), $"the echo took {started.Elapsed}");
        Assert.Equal(ConnectionCloseReason.FaultInjected, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
    }

    [Fact]
    public async Task Add_and_remove_apply_to_new_connections_at_once()
    {
        var accepted = new List<IReadOnlyList<EchoFault>>();
        await using var server = await StartAsync([], s => s.ConnectionAccepted += (_, e) => { lock (accepted) { accepted.Add(e.Faults); } });
        var refuse = EchoFault.Refuse();

        server.Faults.Add(refuse);
        var (data, end) = await ConnectAndEchoAsync(server.EndPoint());
        Assert.Empty(data);
        Assert.NotEqual(Ending.Open, end);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().RejectedConnections == 1, "the refused connection counted");

        Assert.True(server.Faults.Remove(EchoFault.Parse("refuse")));
        Assert.False(server.Faults.Remove(refuse));
        server.Faults.Add(EchoFault.Latency(TimeSpan.FromMilliseconds(1)));
        (data, end) = await ConnectAndEchoAsync(server.EndPoint());
        Assert.Equal([9], data);
        Assert.Equal(Ending.Open, end);
        await TestHelpers.WaitUntilAsync(() => { lock (accepted) { return accepted.Count == 1; } }, "the accepted event");
        Assert.Equal("latency:delay=1ms", Assert.Single(accepted[0]).ToString());
    }

    [Fact]
    public async Task Rules_is_a_snapshot_and_Seed_is_the_configured_one_or_one_chosen_when_the_server_was_made()
    {
        await using var seeded = new EchoServer(TestHelpers.LoopbackOptions(o => { o.FaultSeed = 42; o.Faults.Add(EchoFault.Drop()); o.UdpEndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)); }));
        Assert.Equal(42, seeded.Faults.Seed);
        var before = seeded.Faults.Rules;
        seeded.Faults.Add(EchoFault.Latency(TimeSpan.FromMilliseconds(5)));

        Assert.Equal(["drop"], before.Select(r => r.ToString()));
        Assert.Equal(["drop", "latency:delay=5ms"], seeded.Faults.Rules.Select(r => r.ToString()));
        Assert.Throws<NotSupportedException>(() => ((IList<EchoFault>)seeded.Faults.Rules)[0] = EchoFault.Refuse());
        Assert.Throws<ArgumentNullException>(() => seeded.Faults.Replace([EchoFault.Drop(), null!]));
        Assert.Equal(2, seeded.Faults.Rules.Count);

        await using var random = new EchoServer(TestHelpers.LoopbackOptions());
        Assert.Equal(random.Faults.Seed, random.Faults.Seed);
    }

    [Fact]
    public async Task A_change_is_logged_with_the_rules_and_the_seed()
    {
        var collector = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)));
        await using var server = new EchoServer(TestHelpers.LoopbackOptions(o => o.FaultSeed = 5), factory);
        await server.StartAsync();

        server.Faults.Replace([EchoFault.Parse("latency:delay=2ms"), EchoFault.Parse("reset:after=1s,toxicity=0.5")]);
        server.Faults.Clear();

        var changes = collector.GetSnapshot().Where(r => r.Id.Id == 8).Select(r => r.Message).ToList();
        Assert.Equal(["Fault rules changed: latency:delay=2ms; reset:after=1s,toxicity=0.5; seed 5.", "Fault rules changed: none; seed 5."], changes);
    }

    [Fact]
    public async Task The_selector_picks_the_rules_of_the_third_connection_by_its_id()
    {
        await using var server = await StartAsync([], configure: null, o => o.FaultSelector = c => c.ConnectionId == 3 ? [EchoFault.Latency(Slow)] : []);

        var times = new List<TimeSpan>();
        for (var i = 0; i < 4; i++)
        {
            using var client = await TestHelpers.ConnectAsync(server.EndPoint());
            var started = Stopwatch.StartNew();
            Assert.Equal([7], await client.EchoAsync([7]));
            times.Add(started.Elapsed);
        }

        Assert.True(times[2] >= Slow, $"the third connection's echo took {times[2]}");
        Assert.All(times.Where((_, i) => i != 2), t => Assert.True(t < Slow, $"an echo took {t}"));
    }

    [Fact]
    public async Task The_selector_sees_the_clients_address_and_its_null_leaves_the_connection_to_the_servers_rules()
    {
        var seen = new List<FaultSelectionContext>();
        await using var server = await StartAsync(["latency:delay=1ms"], s => { }, o => o.FaultSelector = c =>
        {
            lock (seen)
            {
                seen.Add(c);
            }

            return ((IPEndPoint)c.RemoteEndPoint!).Address.Equals(IPAddress.Parse("127.0.0.5")) ? [EchoFault.Reset()] : null;
        });

        var (data, end) = await ConnectAndEchoAsync(server.EndPoint(), IPAddress.Parse("127.0.0.5"));
        Assert.NotEqual(Ending.Open, end);
        (data, end) = await ConnectAndEchoAsync(server.EndPoint(), IPAddress.Parse("127.0.0.6"));
        Assert.Equal([9], data);
        Assert.Equal(Ending.Open, end);

        lock (seen)
        {
            Assert.Equal([1L, 2L], seen.Select(c => c.ConnectionId));
            Assert.All(seen, c => Assert.Equal(EchoTransport.Tcp, c.Transport));
            Assert.All(seen, c => Assert.Equal(server.EndPoint(), c.LocalEndPoint));
        }
    }

    [Fact]
    public async Task A_throwing_selector_is_logged_and_the_connection_gets_no_faults()
    {
        var collector = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)));
        var options = TestHelpers.LoopbackOptions(o =>
        {
            o.Faults.Add(EchoFault.Refuse());
            o.FaultSelector = _ => throw new InvalidOperationException("hostile selector");
        });
        await using var server = new EchoServer(options, factory);
        await server.StartAsync();

        var (data, end) = await ConnectAndEchoAsync(server.EndPoint());

        Assert.Equal([9], data);
        Assert.Equal(Ending.Open, end);
        var record = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 48);
        Assert.Equal(LogLevel.Warning, record.Level);
        Assert.Equal("hostile selector", record.Exception?.Message);
    }

    [Fact]
    public async Task Faults_from_the_selector_stay_when_the_servers_rules_change()
    {
        await using var server = await StartAsync([], configure: null, o => o.FaultSelector = _ => [EchoFault.Latency(Slow)]);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        Assert.Equal([1], await client.EchoAsync([1]));

        server.Faults.Clear();
        var started = Stopwatch.StartNew();
        Assert.Equal([2], await client.EchoAsync([2]));

        Assert.True(started.Elapsed >= Slow, $"the echo took {started.Elapsed}");
    }

    /// <summary>Connects (from <paramref name="source"/> when given), echoes one byte, and reads what came back and how the connection ended.</summary>
    private static async Task<(byte[] Data, Ending End)> ConnectAndEchoAsync(IPEndPoint endPoint, IPAddress? source = null)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (source is not null)
        {
            client.Bind(new IPEndPoint(source, 0));
        }

        try
        {
            await client.ConnectAsync(endPoint).WaitAsync(TestHelpers.Timeout);
            await client.SendAllAsync(new byte[] { 9 });
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionRefused)
        {
            return ([], Ending.Reset);
        }

        var (data, _, end) = await ReadAsync(client, 1);
        return (data, end);
    }
}
