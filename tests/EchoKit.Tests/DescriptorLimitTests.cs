using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;
using Microsoft.Win32.SafeHandles;

namespace EchoKit.Tests;

/// <summary>Runs alone: it counts the whole process's descriptors, which tests opening sockets in parallel would change (seen in CI).</summary>
[CollectionDefinition(nameof(DescriptorLimitTests), DisableParallelization = true)]
public class DescriptorLimitTestsDefinition;

/// <summary>
/// The descriptor-limit machinery on its own: reading RLIMIT_NOFILE and the open count, the budget arithmetic, the
/// rate limit of its warning, and the reserve descriptor accepting and closing real loopback connections.
/// </summary>
[Collection(nameof(DescriptorLimitTests))]
public class DescriptorLimitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public void Proc_limits_text_gives_the_soft_column_of_max_open_files()
    {
        const string Text = """
            Limit                     Soft Limit           Hard Limit           Units
            Max processes             63432                63432                processes
            Max open files            128                  4096                 files
            Max locked memory         8388608              8388608              bytes
            """;

        Assert.Equal(128, DescriptorLimit.ParseProcLimits(Text));
        Assert.Equal(long.MaxValue, DescriptorLimit.ParseProcLimits("Max open files            unlimited            unlimited            files\n"));
        Assert.Null(DescriptorLimit.ParseProcLimits("Max processes             63432                63432                processes\n"));
        Assert.Null(DescriptorLimit.ParseProcLimits("Max open files            lots                 lots                 files\n"));
    }

    [SkippableFact]
    public void Getrlimit_and_proc_limits_agree_on_the_soft_limit()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "/proc/self/limits is Linux only.");

        var fromGetrlimit = DescriptorLimit.ReadSoftLimitWithGetrlimit();
        var fromProc = DescriptorLimit.ReadSoftLimitFromProc();

        Assert.NotNull(fromGetrlimit);
        Assert.True(fromGetrlimit > 3, $"soft limit {fromGetrlimit}");
        Assert.Equal(fromProc, fromGetrlimit);
        Assert.Equal(fromProc, DescriptorLimit.ReadSoftLimit());
    }

    [SkippableFact]
    public void Open_count_follows_descriptors_opened_and_closed()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "Descriptors are counted on Unix only.");

        // Other tests open and close sockets meanwhile, so one of a few tries must see exactly the handles added.
        const int Added = 5;
        var seen = new List<(int Before, int During, int After)>();
        for (var attempt = 0; attempt < 10 && !seen.Exists(s => s.During - s.Before == Added && s.After == s.Before); attempt++)
        {
            var before = DescriptorLimit.CountOpen()!.Value;
            var handles = new SafeFileHandle[Added];
            for (var i = 0; i < Added; i++)
            {
                handles[i] = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read);
            }

            var during = DescriptorLimit.CountOpen()!.Value;
            foreach (var handle in handles)
            {
                handle.Dispose();
            }

            seen.Add((before, during, DescriptorLimit.CountOpen()!.Value));
        }

        Assert.Contains(seen, s => s.During - s.Before == Added && s.After == s.Before);
    }

    [Fact]
    public void Budget_keeps_the_margin_free_of_connections()
    {
        var budget = new DescriptorBudget(SoftLimit: 128, OpenAtStart: 89, Margin: 34);

        Assert.Equal(94, budget.Threshold);
        Assert.Equal(5, budget.Capacity);
        Assert.False(budget.IsInMargin(93));
        Assert.True(budget.IsInMargin(94));
        Assert.True(budget.IsInMargin(127));
        Assert.True(budget.Fits(5));
        Assert.False(budget.Fits(6));
        Assert.False(budget.Fits(10_000));

        var full = new DescriptorBudget(SoftLimit: 128, OpenAtStart: 120, Margin: 34);
        Assert.Equal(0, full.Capacity);   // never negative
        Assert.False(full.Fits(1));

        var unlimited = new DescriptorBudget(SoftLimit: long.MaxValue, OpenAtStart: 89, Margin: 34);
        Assert.Equal(long.MaxValue, unlimited.Capacity);
        Assert.False(unlimited.IsInMargin(int.MaxValue));
        Assert.True(unlimited.Fits(int.MaxValue));
    }

    [Fact]
    public void Runtime_margin_covers_thread_starts_per_core_and_one_accept_per_listener()
    {
        // 24 fixed + 3 per overlapping thread start (2 cores + the gate thread) + 1 per listener.
        Assert.Equal(34, DescriptorLimit.RuntimeMargin(processorCount: 2, listeners: 1));
        Assert.Equal(36, DescriptorLimit.RuntimeMargin(processorCount: 2, listeners: 3));
        Assert.Equal(24 + (3 * 33), DescriptorLimit.RuntimeMargin(processorCount: 256, listeners: 0));
        Assert.Equal(30, DescriptorLimit.RuntimeMargin(processorCount: 0, listeners: 0));
    }

    [SkippableFact]
    public void Measure_reads_this_process()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "Descriptors are counted on Unix only.");

        var budget = DescriptorLimit.Measure(listeners: 1)!.Value;

        Assert.Equal(DescriptorLimit.ReadSoftLimit(), budget.SoftLimit);
        Assert.InRange(budget.OpenAtStart, 3, budget.SoftLimit);
        Assert.Equal(DescriptorLimit.RuntimeMargin(Environment.ProcessorCount, 1), budget.Margin);
    }

    [Fact]
    public void Throttle_lets_one_message_through_per_interval_and_counts_the_rest()
    {
        var throttle = new LogThrottle(TimeSpan.FromSeconds(1));
        var start = Stopwatch.GetTimestamp();
        var second = Stopwatch.Frequency;

        Assert.True(throttle.TryEnter(start, out var suppressed));
        Assert.Equal(0, suppressed);
        for (var i = 0; i < 7; i++)
        {
            Assert.False(throttle.TryEnter(start + (second * i / 10), out _));
        }

        Assert.True(throttle.TryEnter(start + second, out suppressed));
        Assert.Equal(7, suppressed);
        Assert.False(throttle.TryEnter(start + second + 1, out _));
        Assert.True(throttle.TryEnter(start + (5 * second), out suppressed));
        Assert.Equal(1, suppressed);
    }

    [Fact]
    public async Task Throttle_lets_exactly_one_of_many_racing_threads_through()
    {
        var throttle = new LogThrottle(TimeSpan.FromSeconds(1));
        var now = Stopwatch.GetTimestamp();
        var entered = 0;
        using var go = new ManualResetEventSlim();
        var racers = Enumerable.Range(0, 4).Select(racer => Task.Run(() =>
        {
            go.Wait(Timeout);
            for (var i = 0; i < 1000; i++)
            {
                if (throttle.TryEnter(now, out _))
                {
                    Interlocked.Increment(ref entered);
                }
            }
        })).ToArray();
        go.Set();
        await Task.WhenAll(racers).WaitAsync(Timeout);

        Assert.Equal(1, entered);
        Assert.True(throttle.TryEnter(now + Stopwatch.Frequency, out var suppressed));
        Assert.Equal(3999, suppressed);
    }

    [Fact]
    public void Only_too_many_open_sockets_counts_as_exhaustion()
    {
        Assert.True(ReserveDescriptor.IsExhaustion(SocketError.TooManyOpenSockets));
        Assert.False(ReserveDescriptor.IsExhaustion(SocketError.ConnectionAborted));
        Assert.False(ReserveDescriptor.IsExhaustion(SocketError.NoBufferSpaceAvailable));
        Assert.False(ReserveDescriptor.IsExhaustion(SocketError.Success));
    }

    [SkippableFact]
    public void Reserve_holds_one_descriptor_until_disposed()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");

        var opened = 0;
        var reserve = new ReserveDescriptor(() =>
        {
            opened++;
            return File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read);
        });

        Assert.True(reserve.IsHeld);
        Assert.Equal(1, opened);
        Assert.True(reserve.TryRestore());   // already held: nothing opened again
        Assert.Equal(1, opened);
        reserve.Dispose();
        Assert.False(reserve.IsHeld);
        Assert.False(reserve.TryRestore());   // disposed stays disposed
        Assert.Equal(1, opened);
    }

    [SkippableFact]
    public async Task Shed_accepts_and_closes_every_waiting_connection_and_keeps_the_reserve()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");
        using var listener = Listen(out var endPoint);
        using var reserve = new ReserveDescriptor();
        var clients = await ConnectAsync(endPoint, 3);
        try
        {
            var stopwatch = Stopwatch.StartNew();
            var closed = reserve.Shed(listener, maxConnections: 64, out var restored);

            Assert.Equal(3, closed);
            Assert.True(restored);
            Assert.True(reserve.IsHeld);
            foreach (var client in clients)
            {
                await AssertClosedAsync(client);
            }

            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"closing took {stopwatch.Elapsed}");

            // Nothing waits now: the shed returns at once instead of blocking in accept.
            stopwatch.Restart();
            Assert.Equal(0, reserve.Shed(listener, maxConnections: 64, out restored));
            Assert.True(restored);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"an empty shed took {stopwatch.Elapsed}");
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [SkippableFact]
    public async Task Shed_stops_at_its_bound_and_leaves_the_rest_to_accept()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");
        using var listener = Listen(out var endPoint);
        using var reserve = new ReserveDescriptor();
        var clients = await ConnectAsync(endPoint, 5);
        try
        {
            Assert.Equal(2, reserve.Shed(listener, maxConnections: 2, out _));

            // The other three still wait, in order, and are served by an ordinary accept.
            for (var i = 0; i < 3; i++)
            {
                using var accepted = await listener.AcceptAsync().WaitAsync(Timeout);
                Assert.NotNull(accepted);
            }

            await AssertClosedAsync(clients[0]);
            await AssertClosedAsync(clients[1]);
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [SkippableFact]
    public async Task A_reserve_that_cannot_be_reopened_still_sheds_and_comes_back_later()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");
        var failing = false;
        using var reserve = new ReserveDescriptor(() => failing
            ? throw new IOException("Too many open files")
            : File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read));
        using var listener = Listen(out var endPoint);
        var clients = await ConnectAsync(endPoint, 2);
        try
        {
            failing = true;
            Assert.Equal(2, reserve.Shed(listener, maxConnections: 64, out var restored));
            Assert.False(restored);
            Assert.False(reserve.IsHeld);
            Assert.False(reserve.TryRestore());

            failing = false;
            Assert.True(reserve.TryRestore());
            Assert.True(reserve.IsHeld);
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [SkippableFact]
    public async Task Several_listeners_shed_through_one_reserve_at_once()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");
        using var reserve = new ReserveDescriptor();
        using var first = Listen(out var firstEndPoint);
        using var second = Listen(out var secondEndPoint);
        var clients = (await ConnectAsync(firstEndPoint, 4)).Concat(await ConnectAsync(secondEndPoint, 4)).ToList();
        try
        {
            var sheds = await Task.WhenAll(
                Task.Run(() => reserve.Shed(first, 64, out _)),
                Task.Run(() => reserve.Shed(second, 64, out _))).WaitAsync(Timeout);

            Assert.Equal([4, 4], sheds);
            Assert.True(reserve.IsHeld);
            foreach (var client in clients)
            {
                await AssertClosedAsync(client);
            }
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [SkippableFact]
    public void Shed_on_a_closed_listener_closes_nothing_and_keeps_the_reserve()
    {
        Skip.IfNot(DescriptorLimit.IsSupported, "The reserve is a Unix descriptor.");
        using var reserve = new ReserveDescriptor();
        var listener = Listen(out _);
        listener.Dispose();

        Assert.Equal(0, reserve.Shed(listener, 64, out var restored));
        Assert.True(restored);
    }

    private static Socket Listen(out IPEndPoint endPoint)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        endPoint = (IPEndPoint)listener.LocalEndPoint!;
        return listener;
    }

    private static async Task<List<Socket>> ConnectAsync(IPEndPoint endPoint, int count)
    {
        var clients = new List<Socket>(count);
        for (var i = 0; i < count; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            clients.Add(client);
            await client.ConnectAsync(endPoint).WaitAsync(Timeout);
        }

        return clients;
    }

    /// <summary>A close, not a hang: the read ends (0 bytes, or a reset) within a second.</summary>
    private static async Task AssertClosedAsync(Socket client)
    {
        var buffer = new byte[16];
        try
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(1));
            Assert.Equal(0, read);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // A reset is a close too.
        }
    }

    private static void DisposeAll(IEnumerable<Socket> sockets)
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }
}
