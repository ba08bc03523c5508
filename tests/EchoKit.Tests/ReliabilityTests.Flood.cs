using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Tests;

public sealed partial class ReliabilityTests
{
    /// <summary>
    /// Three waves of 800 connections from 8 source addresses hit a server limited to 200 connections and 40 per
    /// address. Every wave gets exactly the free slots (no phantom "server full" from leaked slots), every other
    /// attempt is rejected and counted in the statistics and in events with its reason, a resident connection
    /// keeps echoing throughout, and the counts and pools return to zero.
    /// </summary>
    [Fact]
    public async Task ConnectionFlood_beyond_MaxConnections_and_MaxConnectionsPerAddress_is_rejected_counted_and_leaves_nothing()
    {
        const int MaxConnections = 200;
        const int PerAddress = 40;
        const int Addresses = 8;
        const int PerAddressAttempts = 100;
        const int Waves = 3;
        const int Attempts = Addresses * PerAddressAttempts;

        using var guard = new EscapedExceptionGuard();
        var fdBefore = ReliabilityProbe.OpenDescriptors();
        var socketsBefore = ReliabilityProbe.OpenSockets();
        var heapBefore = ReliabilityProbe.LiveManagedBytes();
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            o.MaxConnections = MaxConnections;
            o.MaxConnectionsPerAddress = PerAddress;
            o.Backlog = 2048;
        }));
        var rejected = new ConcurrentQueue<ConnectionRejectedEventArgs>();
        server.ConnectionRejected += (_, e) => rejected.Enqueue(e);
        var closed = TrackClosed(server);

        // A resident connection echoes 4 KiB messages, verified, for the whole flood.
        using var resident = await ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(1), server.EndPoint());
        using var floodOver = new CancellationTokenSource();
        var residentEchoes = 0L;
        var residentWorst = TimeSpan.Zero;
        var residentTask = Task.Run(async () =>
        {
            var message = new byte[4 * KiB];
            var echoed = new byte[message.Length];
            var random = new Random(7);
            while (!floodOver.IsCancellationRequested)
            {
                random.NextBytes(message);
                var watch = Stopwatch.StartNew();
                await resident.SendAllAsync(message);
                await resident.ReceiveExactlyAsync(echoed);
                residentWorst = TimeSpan.FromTicks(Math.Max(residentWorst.Ticks, watch.Elapsed.Ticks));
                Assert.True(echoed.AsSpan().SequenceEqual(message), "the resident connection's echo differs");
                residentEchoes++;
            }
        });
        await TestHelpers.WaitUntilAsync(() => Volatile.Read(ref residentEchoes) > 10, "the resident connection to echo");

        var peakHeap = 0L;
        var peakFds = 0;
        var took = Stopwatch.StartNew();
        for (var wave = 0; wave < Waves; wave++)
        {
            var before = server.GetStatistics();
            var echoesBefore = Volatile.Read(ref residentEchoes);
            var clients = new ConcurrentBag<Socket>();

            // First one address alone (it fills its 40 and is refused 60 more), then the other seven all at once.
            var outcomes = (await FloodAsync(Enumerable.Range(0, PerAddressAttempts))).Concat(await FloodAsync(Enumerable.Range(PerAddressAttempts, Attempts - PerAddressAttempts))).ToArray();
            Task<bool[]> FloodAsync(IEnumerable<int> attempts) => Task.WhenAll(attempts.Select(i => Task.Run(async () =>
            {
                var socket = await ReliabilityClients.ConnectFromAsync(ReliabilityClients.Source(20 + (i / PerAddressAttempts)), server.EndPoint());
                clients.Add(socket);
                return await ProbeAdmittedAsync(socket, (byte)i);
            }))).WaitAsync(TestHelpers.Timeout);

            var after = server.GetStatistics();
            var admitted = outcomes.Count(admittedByClient => admittedByClient);
            peakHeap = Math.Max(peakHeap, ReliabilityProbe.LiveManagedBytes());
            peakFds = Math.Max(peakFds, ReliabilityProbe.OpenDescriptors());

            // Exactly the free slots were given, each client saw what the server decided, nothing else changed.
            Assert.Equal(MaxConnections - 1, admitted);
            Assert.Equal(PerAddress, outcomes.Take(PerAddressAttempts).Count(a => a));
            Assert.Equal(MaxConnections, after.ActiveConnections);
            Assert.Equal(admitted, after.AcceptedConnections - before.AcceptedConnections);
            Assert.Equal(Attempts - admitted, after.RejectedConnections - before.RejectedConnections);
            Assert.True(Volatile.Read(ref residentEchoes) > echoesBefore, "the resident connection did not echo during the flood");

            foreach (var socket in clients)
            {
                socket.Dispose();
            }

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 1, "the flood's connections to close");
            await TestHelpers.WaitUntilAsync(() => server.PoolOutstanding.Connections == 1, $"only the resident's connection object out (was {server.PoolOutstanding})");
        }

        var stats = server.GetStatistics();
        await TestHelpers.WaitUntilAsync(() => rejected.Count == stats.RejectedConnections, $"{stats.RejectedConnections} rejection events (have {rejected.Count})");
        var byReason = rejected.GroupBy(e => e.Reason).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Waves * (Attempts - (MaxConnections - 1)), stats.RejectedConnections);
        Assert.Equal(1 + (Waves * (MaxConnections - 1)), stats.AcceptedConnections);
        Assert.All(byReason.Keys, r => Assert.True(r is ConnectionRejectionReason.MaxConnectionsExceeded or ConnectionRejectionReason.MaxConnectionsPerAddressExceeded, $"unexpected reason {r}"));
        Assert.True(byReason.ContainsKey(ConnectionRejectionReason.MaxConnectionsPerAddressExceeded), "no per-address rejection");
        Assert.True(byReason.ContainsKey(ConnectionRejectionReason.MaxConnectionsExceeded), "no MaxConnections rejection");
        Assert.All(rejected, e => Assert.NotNull(e.RemoteEndPoint));
        Assert.Equal(Waves * (MaxConnections - 1), closed.Count);

        await floodOver.CancelAsync();
        await residentTask.WaitAsync(TestHelpers.Timeout);
        resident.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReliabilityClients.ReceiveUntilEndOfStreamAsync(resident));
        resident.Dispose();
        await server.AssertPoolsReturnedAsync();
        var socketsAfter = await ReliabilityProbe.WaitForSocketsAsync(socketsBefore + 1); // + the listener
        var fdAfter = ReliabilityProbe.OpenDescriptors();
        var heapAfter = ReliabilityProbe.LiveManagedBytes();

        Figure("flood", $"{Waves} waves x {Attempts} connections from {Addresses} addresses against MaxConnections {MaxConnections}, MaxConnectionsPerAddress {PerAddress}: {stats.AcceptedConnections} accepted, {stats.RejectedConnections} rejected ({string.Join(", ", byReason.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}) in {took.Elapsed.TotalSeconds:0.0} s");
        Figure("flood", $"resident connection: {residentEchoes} verified 4 KiB echoes ({Mb(residentEchoes * 4 * KiB)}), slowest round trip {residentWorst.TotalMilliseconds:0} ms");
        Figure("flood", $"live heap before {Mb(heapBefore)}, peak {Mb(peakHeap)}, after {Mb(heapAfter)}; open sockets before {socketsBefore} (+1 listener), after {socketsAfter}; fds before {fdBefore}, peak {peakFds}, after {fdAfter}; active {server.GetStatistics().ActiveConnections}, pools outstanding {server.PoolOutstanding}");
        Assert.Equal(socketsBefore + 1, socketsAfter);
        Assert.InRange(fdAfter, 0, fdBefore + 1 + 4); // the runtime may map an assembly it loads on first use
        Assert.True(residentWorst < TimeSpan.FromSeconds(5), $"the resident connection waited {residentWorst} for an echo");
        guard.AssertNone();
    }

    /// <summary>Sends one byte: an admitted connection echoes it; a rejected one ends (FIN or reset) instead.</summary>
    private static async Task<bool> ProbeAdmittedAsync(Socket socket, byte value)
    {
        var buffer = new byte[1];
        try
        {
            await socket.SendAllAsync(new[] { value });
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 1)
            {
                Assert.Equal(value, buffer[0]);
                return true;
            }

            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            return false;
        }
    }
}
