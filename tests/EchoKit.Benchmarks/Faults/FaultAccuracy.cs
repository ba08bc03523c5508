using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EchoKit.Benchmarks.Faults;

/// <summary>
/// The <c>faults</c> command: how accurately the fault rules do what they say, measured from real client sockets
/// against an in-process server (issue 11's accuracy targets). Markdown on stdout, progress on stderr.
/// </summary>
internal static class FaultAccuracy
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static async Task<int> RunAsync(FaultAccuracySettings settings, string commandLine)
    {
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        var latency = settings.Parts.Contains("latency") ? await LatencyAccuracy.RunAsync(settings) : [];
        var bandwidth = settings.Parts.Contains("bandwidth") ? await BandwidthAccuracy.RunAsync(settings) : [];
        var toxicity = settings.Parts.Contains("toxicity") ? await ToxicityAccuracy.RunAsync(settings) : [];
        var timer = settings.Parts.Contains("timer") ? await TimerOvershoot.RunAsync() : [];
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"`{commandLine}` at {started:yyyy-MM-dd HH:mm} UTC, {clock.Elapsed.TotalSeconds:0} s; " +
            $"{Environment.ProcessorCount} logical CPUs (load average {load} at start), {RuntimeInformation.FrameworkDescription}, client and server in one process.");
        Latency(text, latency, settings);
        Bandwidth(text, bandwidth, settings);
        Toxicity(text, toxicity);
        Timer(text, timer);
        Console.WriteLine(text);
        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { commandLine, started, latency, bandwidth, toxicity, timer }, JsonOptions));
        }

        var missed = latency.Count(r => r.P50Met == false || r.P99Met == false) + bandwidth.Count(r => !r.Met) + toxicity.Count(r => !r.Met || r.Replayed == false);
        Console.Error.WriteLine($"faults: {missed} target(s) missed, in {clock.Elapsed.TotalSeconds:0.0} s.");
        return 0;
    }

    private static void Latency(StringBuilder text, List<LatencyResult> results, FaultAccuracySettings settings)
    {
        if (results.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**Latency** ({settings.Connections} connections, 32-byte ping-pong, {settings.Duration.TotalSeconds:0.#} s per case, the first {settings.Warmup.TotalSeconds:0.#} s not measured). " +
            $"Added = RTT − the paced baseline's median RTT (flat-out rows: − their own median). Targets: p50 within ±1 ms of the delay, p99 ≤ delay + jitter + 2 ms.");
        text.AppendLine();
        text.AppendLine("| Case | Echoes | RTT p50 (ms) | Added p50 | p90 | p99 | max (ms) | CPU µs/echo | p50 target | p99 target |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var r in results)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Case} | {r.Echoes} | {r.RttP50Ms:0.000} | {r.AddedP50Ms:0.00} | {r.AddedP90Ms:0.00} | {r.AddedP99Ms:0.00} | {r.AddedMaxMs:0.00} | {r.CpuMicrosecondsPerEcho:0.0} | {Met(r.P50Met)} | {Met(r.P99Met)} |");
        }
    }

    private static void Bandwidth(StringBuilder text, List<BandwidthResult> results, FaultAccuracySettings settings)
    {
        if (results.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**Bandwidth** (send and read continuously, {settings.Duration.TotalSeconds:0.#} s, the first {settings.Warmup.TotalSeconds:0.#} s not measured; each connection limited on its own). Target: every connection within ±5 % of the rate.");
        text.AppendLine();
        text.AppendLine("| Rule | Connections | Server receive buffer | Rate (B/s) | Measured min / mean / max (B/s) | Error min / max | Target |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| `{r.Rule}` | {r.Connections} | {r.ReceiveBufferSize} | {r.Rate} | {r.MinBytesPerSecond:0} / {r.MeanBytesPerSecond:0} / {r.MaxBytesPerSecond:0} | {r.MinErrorPercent + 0.0:+0.00;-0.00;0.00} % / {r.MaxErrorPercent + 0.0:+0.00;-0.00;0.00} % | {Met(r.Met)} |");
        }
    }

    private static void Toxicity(StringBuilder text, List<ToxicityResult> results)
    {
        if (results.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**Toxicity** (`{results[0].Rule}`, {results[0].Connections} connections opened one after another per seed; faulted = `ConnectionAcceptedEventArgs.Faults` not empty). Target: {results[0].Low}–{results[0].High}.");
        text.AppendLine();
        text.AppendLine("| Seed | Faulted | Target | Same connections when replayed |");
        text.AppendLine("|---:|---:|---|---|");
        foreach (var r in results)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Seed} | {r.Faulted} | {Met(r.Met)} | {(r.Replayed is { } same ? (same ? "yes" : "**no**") : "")} |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| all | {results.Sum(r => r.Faulted)} of {results.Sum(r => r.Connections)} ({100.0 * results.Sum(r => r.Faulted) / results.Sum(r => r.Connections):0.0} %) | | |");
    }

    private static void Timer(StringBuilder text, List<TimerResult> results)
    {
        if (results.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine("**Timer overshoot** (standalone `System.Threading.Timer`, armed as `ConnectionFaults.Arm` does: ms rounded up; overshoot = callback time − due time, 2 s per case; CPU is the whole process's, so the loaded machine shows in it).");
        text.AppendLine();
        text.AppendLine("| Case | Wakes | min (ms) | p50 | p90 | p99 | max | mean | CPU µs/wake | Callbacks/wake |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Case} | {r.Wakes} | {r.MinMs:0.000} | {r.P50Ms:0.000} | {r.P90Ms:0.000} | {r.P99Ms:0.000} | {r.MaxMs:0.000} | {r.MeanMs:0.000} | {r.CpuMicrosecondsPerWake:0.0} | {r.CallbacksPerWake:0.00} |");
        }
    }

    private static string Met(bool? met) => met switch { true => "met", false => "**missed**", null => "" };
}
