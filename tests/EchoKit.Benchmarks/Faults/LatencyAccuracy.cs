using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Benchmarks.Faults;

/// <summary>One latency case: the added latency (RTT minus the baseline's median RTT) and its targets.</summary>
internal sealed record LatencyResult(
    string Case,
    string? Rule,
    int Connections,
    long Echoes,
    double RttP50Ms,
    double AddedP50Ms,
    double AddedP90Ms,
    double AddedP99Ms,
    double AddedMaxMs,
    double CpuMicrosecondsPerEcho,
    bool? P50Met,
    bool? P99Met);

/// <summary>
/// Latency accuracy, from real client sockets: N connections each ping-pong a 32-byte message against one in-process
/// server, first without faults, then under <c>latency</c> rules put in force with <c>server.Faults.Replace</c>
/// (every case opens fresh connections, so each gets the case's rules at accept).
/// </summary>
/// <remarks>
/// Two baselines: "flat out" (no pause between echoes) gives the CPU cost of an echo at full speed, but its RTT is
/// inflated by queueing on a saturated machine (100 connections, 2 cores), so subtracting it would hide the delay's
/// error. The added latency is measured against the "paced" baseline instead: each connection waits 50 ms between
/// echoes (outside the timed round trip), the same offered load as under <c>delay=50ms</c>. Connections start
/// staggered over 50 ms, so their echoes are not all due in the same millisecond.
/// </remarks>
internal static class LatencyAccuracy
{
    private const int MessageSize = 32;

    /// <summary>Samples kept per connection and case: a bound on memory whatever the speed.</summary>
    private const int MaxSamplesPerConnection = 50_000;

    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(50);

    public static async Task<List<LatencyResult>> RunAsync(FaultAccuracySettings settings)
    {
        var (server, endPoint) = await AccuracyServer.StartAsync(o => o.FaultSeed = 11);
        await using (server)
        {
            var results = new List<LatencyResult>();
            Console.Error.WriteLine("latency: baseline (flat out)");
            var flat = await MeasureAsync(endPoint, settings, paced: false);
            Console.Error.WriteLine("latency: baseline (paced, 50 ms between echoes)");
            var paced = await MeasureAsync(endPoint, settings, paced: true);
            var baseline = paced.Rtt.P50;
            results.Add(Result("baseline, flat out", null, settings, flat, flat.Rtt.P50, null, null));
            results.Add(Result("baseline, paced 50 ms", null, settings, paced, baseline, null, null));
            foreach (var (rule, delay, jitter) in new[] { ("latency:delay=50ms", 50.0, 0.0), ("latency:delay=50ms,jitter=10ms", 50.0, 10.0) })
            {
                Console.Error.WriteLine($"latency: {rule}");
                server.Faults.Replace([EchoFault.Parse(rule)]);
                var measured = await MeasureAsync(endPoint, settings, paced: false);
                server.Faults.Clear();
                var added = measured.Added(baseline);
                results.Add(Result(rule, rule, settings, measured, baseline, Math.Abs(added.P50 - delay) <= 1, added.P99 <= delay + jitter + 2));
            }

            return results;
        }
    }

    private static LatencyResult Result(string name, string? rule, FaultAccuracySettings settings, Measurement m, double baseline, bool? p50Met, bool? p99Met)
    {
        var added = m.Added(baseline);
        return new LatencyResult(name, rule, settings.Connections, m.Echoes, Math.Round(m.Rtt.P50, 3), Math.Round(added.P50, 2), Math.Round(added.P90, 2),
            Math.Round(added.P99, 2), Math.Round(added.Max, 2), Math.Round(m.CpuMicrosecondsPerEcho, 1), p50Met, p99Met);
    }

    private static async Task<Measurement> MeasureAsync(IPEndPoint endPoint, FaultAccuracySettings settings, bool paced)
    {
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < settings.Connections; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                sockets.Add(socket);
                await socket.ConnectAsync(endPoint);
            }

            var frequency = Stopwatch.Frequency;
            var start = Stopwatch.GetTimestamp();
            var windowStart = start + (long)(settings.Warmup.TotalSeconds * frequency);
            var end = start + (long)(settings.Duration.TotalSeconds * frequency);

            // A bound on the whole case: a stuck echo fails it instead of hanging the run.
            using var timeout = new CancellationTokenSource(settings.Duration + TimeSpan.FromSeconds(15));
            var counter = new EchoCounter();
            var stagger = new Random(7);
            var samples = new List<long>[sockets.Count];
            var tasks = new Task[sockets.Count];
            for (var i = 0; i < sockets.Count; i++)
            {
                samples[i] = [];
                var offset = TimeSpan.FromMilliseconds(stagger.NextDouble() * Pace.TotalMilliseconds);
                tasks[i] = PingPongAsync(sockets[i], offset, paced, windowStart, end, samples[i], counter, timeout.Token);
            }

            await Task.Delay(settings.Warmup);
            var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            var echoesStart = counter.Value;
            await Task.WhenAll(tasks);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStart;
            var echoes = counter.Value - echoesStart;
            var rtt = samples.SelectMany(s => s).ToArray();
            return new Measurement(rtt, echoes == 0 ? double.NaN : cpu.TotalMicroseconds / echoes);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task PingPongAsync(Socket socket, TimeSpan offset, bool paced, long windowStart, long end, List<long> samples, EchoCounter counter, CancellationToken cancel)
    {
        var message = new byte[MessageSize];
        var echo = new byte[MessageSize];
        Random.Shared.NextBytes(message);
        await Task.Delay(offset, cancel);
        while (true)
        {
            var sent = Stopwatch.GetTimestamp();
            if (sent >= end)
            {
                return;
            }

            await socket.SendAsync(message, SocketFlags.None, cancel);
            for (var got = 0; got < MessageSize;)
            {
                var read = await socket.ReceiveAsync(echo.AsMemory(got), SocketFlags.None, cancel);
                got += read > 0 ? read : throw new IOException("The server closed the connection mid-echo.");
            }

            var received = Stopwatch.GetTimestamp();
            counter.Increment();
            if (!message.AsSpan().SequenceEqual(echo))
            {
                throw new IOException("The echo differs from the message.");
            }

            if (sent >= windowStart && samples.Count < MaxSamplesPerConnection)
            {
                samples.Add(received - sent);
            }

            if (paced)
            {
                await Task.Delay(Pace, cancel);
            }
        }
    }

    private sealed class Measurement(long[] rtt, double cpuMicrosecondsPerEcho)
    {
        public Distribution Rtt { get; } = new(rtt.Select(Distribution.ToMilliseconds));

        public long Echoes => rtt.Length;

        public double CpuMicrosecondsPerEcho { get; } = cpuMicrosecondsPerEcho;

        public Distribution Added(double baselineMs) => new(rtt.Select(t => Distribution.ToMilliseconds(t) - baselineMs));
    }

    private sealed class EchoCounter
    {
        private long _value;

        public long Value => Interlocked.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }
}
