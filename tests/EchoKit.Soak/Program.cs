using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EchoKit.Soak;

/// <summary>
/// The soak run of docs/RELIABILITY.md (scenario 7): <c>dotnet run -c Release --project tests/EchoKit.Soak -- --duration 60</c>.
/// Exit code 0 = passed, 1 = failed (growth, mismatch, stall or leak), 2 = bad arguments or environment.
/// </summary>
internal static class Program
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> Main(string[] args)
    {
        SoakSettings settings;
        try
        {
            settings = SoakSettings.Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return args.Contains("--help") || args.Contains("-h") ? 0 : 2;
        }

        var limit = ProcessProbe.DescriptorLimit();
        var needed = (2L * settings.Connections) + (2L * settings.ChurnWorkers) + 256;
        if (limit >= 0 && limit < needed)
        {
            Console.Error.WriteLine($"{settings.Connections} connections need about {needed} open descriptors (client and server ends in this process); the limit is {limit}. Raise it (ulimit -n {needed}) or pass fewer --connections.");
            return 2;
        }

        Console.WriteLine(string.Create(Inv, $"EchoKit soak: {settings.Connections} connections, {settings.DurationSeconds} s (warm-up {settings.EffectiveWarmupSeconds} s), tolerance {settings.TolerancePercent}%, messages 1..{settings.MessageSize} B, {settings.Sources} source addresses, think {settings.ThinkMilliseconds} ms, churn {settings.ChurnCycles}; {Environment.ProcessorCount} cores, .NET {Environment.Version}, descriptor limit {limit}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));

        var failures = new List<string>();
        var socketsAtStart = ProcessProbe.OpenSockets();
        var closeReasons = new ConcurrentDictionary<ConnectionCloseReason, long>();
        var server = new EchoServer(new EchoServerOptions
        {
            EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) },
            Backlog = Math.Max(512, Math.Min(settings.Connections, 4096)),
            MaxConnections = Math.Max(10_000, settings.Connections + settings.ChurnWorkers + 16),
        });
        server.ConnectionClosed += (_, e) => closeReasons.AddOrUpdate(e.Reason, 1, (_, n) => n + 1);
        await server.StartAsync();
        var endPoint = (IPEndPoint)server.EndPoints[0];
        try
        {
            if (settings.DurationSeconds > 0)
            {
                await SoakAsync(settings, server, endPoint, closeReasons, failures);
            }

            if (settings.ChurnCycles > 0)
            {
                await ChurnAsync(settings, server, endPoint, closeReasons, failures);
            }
        }
        finally
        {
            await server.StopAsync();
        }

        var socketsAtEnd = ProcessProbe.OpenSockets();
        Console.WriteLine(string.Create(Inv, $"Open sockets: {socketsAtStart} before the server started, {socketsAtEnd} after it stopped."));
        if (socketsAtEnd > socketsAtStart)
        {
            failures.Add($"{socketsAtEnd - socketsAtStart} sockets still open after the server stopped");
        }

        Console.WriteLine();
        if (failures.Count == 0)
        {
            Console.WriteLine("SOAK PASSED");
            return 0;
        }

        Console.WriteLine("SOAK FAILED:");
        foreach (var failure in failures)
        {
            Console.WriteLine("  - " + failure);
        }

        return 1;
    }

    private static async Task SoakAsync(SoakSettings settings, EchoServer server, IPEndPoint endPoint, ConcurrentDictionary<ConnectionCloseReason, long> closeReasons, List<string> failures)
    {
        var block = new byte[Math.Max(1024 * 1024, 2 * settings.MessageSize)];
        new Random(settings.Seed).NextBytes(block);
        var socketsBefore = ProcessProbe.OpenSockets();

        var connect = Stopwatch.StartNew();
        using var connectCts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var clients = new SoakClient[settings.Connections];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Math.Min(64, settings.Connections)).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < settings.Connections)
            {
                var source = new IPAddress([127, 0, 0, (byte)(2 + (i % settings.Sources))]);
                clients[i] = await SoakClient.ConnectAsync(source, endPoint, i, connectCts.Token);
            }
        })));
        Console.WriteLine(string.Create(Inv, $"Connected {settings.Connections} clients in {connect.Elapsed.TotalSeconds:0.0} s."));

        using var stop = new CancellationTokenSource();
        var runs = clients.Select(c => Task.Run(() => c.RunAsync(block, settings.MessageSize, settings.Seed + c.Index, settings.ThinkMilliseconds, stop.Token))).ToArray();

        // Sample once a second.
        var samples = new List<Sample>();
        var printEvery = settings.DurationSeconds <= 180 ? 1 : 10;
        Console.WriteLine();
        Console.WriteLine(Sample.Header);
        var clock = Stopwatch.StartNew();
        var lastBytesSent = server.GetStatistics().BytesSent;
        var lastEchoes = 0L;
        var lastTime = TimeSpan.Zero;
        var lastGen0 = GC.CollectionCount(0);
        var stalled = 0;
        using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(1)))
        {
            while (await timer.WaitForNextTickAsync() && clock.Elapsed.TotalSeconds < settings.DurationSeconds + 0.5)
            {
                var now = clock.Elapsed;
                var stats = server.GetStatistics();
                var echoes = clients.Sum(c => c.Echoes);
                var seconds = (now - lastTime).TotalSeconds;
                var tick = Environment.TickCount64;
                var quiet = clients.Count(c => tick - c.LastProgressTick > 10_000 + settings.ThinkMilliseconds);
                var info = GC.GetGCMemoryInfo();
                var sample = new Sample(
                    now.TotalSeconds,
                    stats.ActiveConnections,
                    (echoes - lastEchoes) / seconds,
                    (stats.BytesSent - lastBytesSent) / seconds / (1024 * 1024),
                    ProcessProbe.ResidentBytes(),
                    ProcessProbe.LiveManagedBytes(),
                    info.HeapSizeBytes,
                    ProcessProbe.OpenDescriptors(),
                    ThreadPool.ThreadCount,
                    GC.CollectionCount(0) - lastGen0 - 1, // minus the one this sampler forces
                    ProcessProbe.PoolOutstanding(server),
                    quiet);
                samples.Add(sample);
                if (samples.Count % printEvery == 0)
                {
                    Console.WriteLine(sample.Row);
                }

                stalled = Math.Max(stalled, quiet);
                lastBytesSent = stats.BytesSent;
                lastEchoes = echoes;
                lastGen0 = GC.CollectionCount(0);
                lastTime = now;
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(60));
        var mismatches = clients.Sum(c => c.Mismatches);
        var clientFailures = clients.Where(c => c.Failure is not null).Select(c => $"connection {c.Index}: {c.Failure!.GetType().Name}: {c.Failure.Message}").ToList();
        var totalEchoes = clients.Sum(c => c.Echoes);
        var totalBytes = clients.Sum(c => c.Bytes);
        var perClient = clients.Select(c => c.Echoes).Order().ToArray();

        // Close: every client half-closes and must get a clean end of stream; the server must account for every byte.
        var closeProblems = (await Task.WhenAll(clients.Select(c => c.CloseAsync(TimeSpan.FromSeconds(30))))).Where(p => p is not null).ToList();
        var drained = await WaitAsync(() => server.GetStatistics().ActiveConnections == 0 && ProcessProbe.PoolsReturned(server), TimeSpan.FromSeconds(30));
        var final = server.GetStatistics();
        var socketsAfter = await WaitForAsync(() => ProcessProbe.OpenSockets(), socketsBefore, TimeSpan.FromSeconds(10));

        Console.WriteLine();
        WriteCsv(settings.CsvPath, samples);
        Console.WriteLine(string.Create(Inv, $"Echoed {totalEchoes:N0} messages, {totalBytes / (1024.0 * 1024):N1} MiB, every byte compared: {mismatches} mismatches; per connection min {perClient[0]:N0} / median {perClient[perClient.Length / 2]:N0} / max {perClient[^1]:N0} echoes."));
        Console.WriteLine(string.Create(Inv, $"Server: received {final.BytesReceived:N0} B, sent {final.BytesSent:N0} B, accepted {final.AcceptedConnections}, active {final.ActiveConnections}, pools outstanding {ProcessProbe.PoolOutstanding(server)}; close reasons {string.Join(", ", closeReasons.Select(p => $"{p.Key} {p.Value}"))}; open sockets {socketsBefore} before connecting, {socketsAfter} after closing."));

        var warmup = settings.EffectiveWarmupSeconds;
        var checkedSamples = samples.Where(s => s.Seconds > warmup).ToList();
        Console.WriteLine(string.Create(Inv, $"Growth after the {warmup} s warm-up ({checkedSamples.Count} samples): mean of the last third against the first third; fails above {settings.TolerancePercent}% and the floor."));
        failures.AddRange(Growth.Check("RSS", checkedSamples, s => s.Rss, 8L * 1024 * 1024, settings.TolerancePercent, Sample.Mb));
        failures.AddRange(Growth.Check("live managed heap", checkedSamples, s => s.LiveHeap, 4L * 1024 * 1024, settings.TolerancePercent, Sample.Mb));
        failures.AddRange(Growth.Check("open descriptors", checkedSamples, s => s.Descriptors, 16, settings.TolerancePercent, v => v.ToString("0", Inv)));
        Growth.Report("GC heap size (at last GC, not checked)", checkedSamples, s => s.GcHeap, Sample.Mb);
        Growth.Report("throughput MiB/s (not checked)", checkedSamples, s => (long)s.MibPerSecond, v => v.ToString("0", Inv));

        if (mismatches > 0)
        {
            failures.Add($"{mismatches} echoes differed from what was sent");
        }

        failures.AddRange(clientFailures.Take(10));
        failures.AddRange(closeProblems.Take(10)!);
        if (stalled > 0)
        {
            failures.Add($"{stalled} connections made no progress for over 10 s");
        }

        if (perClient[0] == 0)
        {
            failures.Add("a connection never completed an echo");
        }

        if (!drained)
        {
            failures.Add($"after closing: {server.GetStatistics().ActiveConnections} connections still active, pools outstanding {ProcessProbe.PoolOutstanding(server)}");
        }

        if (final.BytesReceived != totalBytes || final.BytesSent != totalBytes)
        {
            failures.Add($"the server received {final.BytesReceived} and sent {final.BytesSent} bytes, the clients echoed {totalBytes}");
        }

        if (closeReasons.Keys.Any(r => r != ConnectionCloseReason.ClientClosed))
        {
            failures.Add("connections closed for other reasons than ClientClosed");
        }

        if (socketsAfter != socketsBefore)
        {
            failures.Add($"open sockets {socketsAfter} after closing, {socketsBefore} before connecting");
        }
    }

    /// <summary>Connect/echo/close cycles: graceful close, half-close (read to end of stream) and reset (linger 0) in turn.</summary>
    private static async Task ChurnAsync(SoakSettings settings, EchoServer server, IPEndPoint endPoint, ConcurrentDictionary<ConnectionCloseReason, long> closeReasons, List<string> failures)
    {
        var sources = Math.Max(settings.Sources, 32);
        var before = server.GetStatistics();
        var socketsBefore = ProcessProbe.OpenSockets();
        var rssBefore = ProcessProbe.ResidentBytes();
        var heapBefore = ProcessProbe.LiveManagedBytes();
        closeReasons.Clear();
        var next = -1L;
        long bytes = 0, mismatches = 0, errors = 0;
        var firstError = (string?)null;
        var deadline = Stopwatch.StartNew();
        var budget = TimeSpan.FromSeconds(Math.Max(120, settings.ChurnCycles / 500.0));
        Console.WriteLine();
        Console.WriteLine(string.Create(Inv, $"Churn: {settings.ChurnCycles:N0} connect/echo/close cycles, {settings.ChurnWorkers} workers, {sources} source addresses (time budget {budget.TotalSeconds:0} s)."));
        var peakRss = rssBefore;
        var peakDescriptors = ProcessProbe.OpenDescriptors();
        var rssByProgress = new List<(double Done, long Rss)>();
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                var rss = ProcessProbe.ResidentBytes();
                peakRss = Math.Max(peakRss, rss);
                peakDescriptors = Math.Max(peakDescriptors, ProcessProbe.OpenDescriptors());
                var c = Interlocked.Read(ref next);
                rssByProgress.Add((Math.Min(c, settings.ChurnCycles) / (double)settings.ChurnCycles, rss));
                if (c > 0 && rssByProgress.Count % 5 == 0)
                {
                    Console.WriteLine(string.Create(Inv, $"  {deadline.Elapsed.TotalSeconds,5:0} s: {Math.Min(c, settings.ChurnCycles),11:N0} cycles, {c / deadline.Elapsed.TotalSeconds,7:N0}/s, RSS {Sample.Mb(rss)} MiB, descriptors {ProcessProbe.OpenDescriptors()}"));
                }

                try
                {
                    await Task.Delay(1000, done.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        await Task.WhenAll(Enumerable.Range(0, settings.ChurnWorkers).Select(_ => Task.Run(async () =>
        {
            var payload = new byte[1024];
            var echoed = new byte[1025]; // one spare byte, so a surplus after a half-close shows up as a mismatch
            long cycle;
            while ((cycle = Interlocked.Increment(ref next)) < settings.ChurnCycles && deadline.Elapsed < budget)
            {
                var length = 1 + (int)(cycle % payload.Length);
                for (var j = 0; j < length; j++)
                {
                    payload[j] = (byte)((cycle * 31) + j);
                }

                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(2 + (cycle % sources))]), 0));
                    await socket.ConnectAsync(endPoint, cts.Token);
                    for (var sent = 0; sent < length;)
                    {
                        sent += await socket.SendAsync(payload.AsMemory(sent, length - sent), SocketFlags.None, cts.Token);
                    }

                    if (cycle % 3 == 1)
                    {
                        socket.Shutdown(SocketShutdown.Send);
                    }

                    var read = 0;
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(echoed.AsMemory(read, Math.Min(echoed.Length - read, cycle % 3 == 1 ? echoed.Length : length - read)), SocketFlags.None, cts.Token);
                        if (n == 0)
                        {
                            break;
                        }

                        read += n;
                        if ((cycle % 3 != 1 && read >= length) || read == echoed.Length)
                        {
                            break;
                        }
                    }

                    if (read != length || !echoed.AsSpan(0, length).SequenceEqual(payload.AsSpan(0, length)))
                    {
                        Interlocked.Increment(ref mismatches);
                    }

                    if (cycle % 3 == 2)
                    {
                        socket.LingerState = new LingerOption(true, 0);
                    }

                    Interlocked.Add(ref bytes, length);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, $"cycle {cycle}: {ex.GetType().Name}: {ex.Message}", null);
                }
            }
        })));
        var took = deadline.Elapsed;
        await done.CancelAsync();
        await sampler;

        var cycles = Math.Min(Interlocked.Read(ref next), settings.ChurnCycles);
        var drained = await WaitAsync(() => server.GetStatistics() is var s && s.ActiveConnections == 0 && s.AcceptedConnections - before.AcceptedConnections == cycles && ProcessProbe.PoolsReturned(server), TimeSpan.FromSeconds(30));
        var after = server.GetStatistics();
        var socketsAfter = await WaitForAsync(() => ProcessProbe.OpenSockets(), socketsBefore, TimeSpan.FromSeconds(10));
        var heapAfter = ProcessProbe.LiveManagedBytes();
        var rssAfter = ProcessProbe.ResidentBytes();
        Console.WriteLine(string.Create(Inv, $"Churn: {cycles:N0} cycles in {took.TotalSeconds:0.0} s ({cycles / took.TotalSeconds:N0}/s); {bytes:N0} B echoed and compared, {mismatches} mismatches, {errors} errors{(firstError is null ? "" : $" (first: {firstError})")}."));
        Console.WriteLine(string.Create(Inv, $"Churn: server accepted {after.AcceptedConnections - before.AcceptedConnections:N0}, received {after.BytesReceived - before.BytesReceived:N0} B, sent {after.BytesSent - before.BytesSent:N0} B, active {after.ActiveConnections}, pools outstanding {ProcessProbe.PoolOutstanding(server)}; close reasons {string.Join(", ", closeReasons.Select(p => $"{p.Key} {p.Value:N0}"))}."));
        Console.WriteLine(string.Create(Inv, $"Churn: open sockets {socketsBefore} -> {socketsAfter}; descriptors peak {peakDescriptors}, now {ProcessProbe.OpenDescriptors()}; RSS {Sample.Mb(rssBefore)} -> peak {Sample.Mb(peakRss)} -> {Sample.Mb(rssAfter)} MiB; live heap {Sample.Mb(heapBefore)} -> {Sample.Mb(heapAfter)} MiB."));

        // RSS must level off: its mean over the last third of the cycles against the second third (the first is warm-up).
        var middle = rssByProgress.Where(p => p.Done is > 1 / 3.0 and <= 2 / 3.0).Select(p => (double)p.Rss).DefaultIfEmpty(rssBefore).Average();
        var end = rssByProgress.Where(p => p.Done > 2 / 3.0).Select(p => (double)p.Rss).DefaultIfEmpty(rssAfter).Average();
        var rssGrowth = middle > 0 ? (end - middle) / middle * 100 : 0;
        var rssVerdict = end - middle > 8 * 1024 * 1024 && rssGrowth > settings.TolerancePercent ? "FAIL" : "ok";
        Console.WriteLine(string.Create(Inv, $"Churn: RSS over the second third of the cycles {Sample.Mb(middle)} MiB, over the last third {Sample.Mb(end)} MiB: {rssGrowth:+0.0;-0.0}% (tolerance {settings.TolerancePercent}%, floor 8 MiB)  {rssVerdict}"));
        if (rssVerdict == "FAIL")
        {
            failures.Add($"churn: RSS grew {rssGrowth:0.0}% from the second to the last third of the cycles");
        }

        if (cycles < settings.ChurnCycles)
        {
            failures.Add($"churn ran out of time after {cycles} of {settings.ChurnCycles} cycles");
        }

        if (mismatches > 0 || errors > 0)
        {
            failures.Add($"churn: {mismatches} mismatches, {errors} errors ({firstError})");
        }

        if (!drained)
        {
            failures.Add($"churn: after the cycles {server.GetStatistics().ActiveConnections} active, pools outstanding {ProcessProbe.PoolOutstanding(server)}");
        }

        if (after.BytesReceived - before.BytesReceived != bytes || after.BytesSent - before.BytesSent != bytes)
        {
            failures.Add($"churn: the server received {after.BytesReceived - before.BytesReceived} and sent {after.BytesSent - before.BytesSent} bytes, the clients echoed {bytes}");
        }

        if (closeReasons.Keys.Any(r => r is not (ConnectionCloseReason.ClientClosed or ConnectionCloseReason.ConnectionReset)))
        {
            failures.Add("churn: connections closed for other reasons than ClientClosed or ConnectionReset");
        }

        if (socketsAfter != socketsBefore)
        {
            failures.Add($"churn: {socketsAfter} open sockets after, {socketsBefore} before");
        }
    }

    private static async Task<bool> WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    private static async Task<int> WaitForAsync(Func<int> read, int target, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        int value;
        while ((value = read()) > target && watch.Elapsed < timeout)
        {
            await Task.Delay(50);
        }

        return value;
    }

    private static void WriteCsv(string? path, List<Sample> samples)
    {
        if (path is null)
        {
            return;
        }

        var csv = new StringBuilder(Sample.CsvHeader).AppendLine();
        foreach (var sample in samples)
        {
            csv.AppendLine(sample.Csv);
        }

        File.WriteAllText(path, csv.ToString());
        Console.WriteLine($"Samples written to {path}.");
    }
}
