using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using EchoKit.Benchmarks.Servers;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>Turns a run's measurements into Markdown: medians over rounds and EchoKit ÷ peer ratios.</summary>
internal static class Report
{
    public const string BeginMarker = "<!-- BEGIN GENERATED RESULTS (tests/EchoKit.Benchmarks run --out) -->";
    public const string EndMarker = "<!-- END GENERATED RESULTS -->";

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Build(RunSettings settings, Runner runner, DateTimeOffset started, TimeSpan took)
    {
        var sb = new StringBuilder();
        var scenarios = Scenarios.All.Where(s => settings.Scenarios.Contains(s.Name)).ToList();
        var servers = settings.Servers;
        // The EchoKit server the ratios are about: the echo server, or in the proxy comparison the fault proxy.
        var subject = servers.Contains(BenchServers.EchoKit) ? BenchServers.EchoKit
            : servers.Contains(BenchServers.ProxyEchoKit) ? BenchServers.ProxyEchoKit
            : null;
        var peers = servers.Where(s => s != subject).ToList();
        var hasEchoKit = subject is not null;

        sb.AppendLine(Invariant, $"Run {started:yyyy-MM-dd HH:mm} UTC, took {took.TotalMinutes:0.0} min. Command:");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(settings.CommandLine);
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine(MachineDescription());
        sb.AppendLine();
        sb.AppendLine(ClientDescription(settings));
        sb.AppendLine();
        sb.AppendLine(Invariant, $"Medians over {settings.Rounds} round(s); {settings.Warmup.TotalSeconds:0.##} s warm-up and {settings.Duration.TotalSeconds:0.##} s measured per server per round. " +
            $"Idle: {settings.IdleConnections:N0} connections. Churn: {settings.ChurnConcurrency} workers. No-read: {settings.NoReadConnections} connections × {settings.NoReadBytes / 1048576.0:0.##} MiB.");
        sb.AppendLine();

        // Summary: the headline numbers.
        sb.AppendLine("### Summary");
        sb.AppendLine();
        sb.Append("| scenario | metric | ").AppendJoin(" | ", servers);
        if (hasEchoKit)
        {
            foreach (var peer in peers)
            {
                sb.Append(Invariant, $" | EchoKit ÷ {peer}");
            }
        }

        sb.AppendLine(" |");
        sb.Append("|---|---|").Append(string.Concat(Enumerable.Repeat("---:|", servers.Count + (hasEchoKit ? peers.Count : 0)))).AppendLine();
        foreach (var scenario in scenarios)
        {
            foreach (var key in scenario.SummaryMetrics)
            {
                var def = scenario.Metrics.First(d => d.Key == key);
                sb.Append(Invariant, $"| {scenario.Name} | {def.Header} {Arrow(def.Better)} |");
                foreach (var server in servers)
                {
                    sb.Append(Invariant, $" {Cell(runner, scenario, server, def)} |");
                }

                if (hasEchoKit)
                {
                    foreach (var peer in peers)
                    {
                        sb.Append(Invariant, $" {Ratio(runner, scenario, subject!, peer, def)} |");
                    }
                }

                sb.AppendLine();
            }
        }

        sb.AppendLine();
        sb.AppendLine(Invariant, $"↑ higher is better, ↓ lower is better. A ratio is EchoKit's median ({subject ?? BenchServers.EchoKit}) divided by the peer's: above 1 is better for ↑ metrics, below 1 is better for ↓ metrics.");
        sb.AppendLine();

        foreach (var scenario in scenarios)
        {
            sb.AppendLine(Invariant, $"### {scenario.Name}: {scenario.Title}");
            sb.AppendLine();
            sb.AppendLine(scenario.Description);
            sb.AppendLine();
            sb.Append("| server | ").AppendJoin(" | ", scenario.Metrics.Select(d => $"{d.Header} {Arrow(d.Better)}".TrimEnd())).AppendLine(" | rounds ok | errors |");
            sb.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", scenario.Metrics.Count + 2))).AppendLine();
            foreach (var server in servers)
            {
                var list = runner.Results.GetValueOrDefault((scenario.Name, server)) ?? [];
                sb.Append(Invariant, $"| {server} |");
                foreach (var def in scenario.Metrics)
                {
                    sb.Append(Invariant, $" {Cell(runner, scenario, server, def)} |");
                }

                sb.AppendLine(Invariant, $" {list.Count(m => m.Ok)}/{list.Count} | {list.Sum(m => m.Errors + m.Mismatches)} |");
            }

            if (hasEchoKit)
            {
                foreach (var peer in peers)
                {
                    sb.Append(Invariant, $"| *EchoKit ÷ {peer}* |");
                    foreach (var def in scenario.Metrics)
                    {
                        sb.Append(Invariant, $" {Ratio(runner, scenario, subject!, peer, def)} |");
                    }

                    sb.AppendLine(" | |");
                }
            }

            if (servers.Contains(BenchServers.Direct))
            {
                AppendAddedLatency(sb, runner, scenario, servers, subject);
            }

            var notes = servers
                .SelectMany(server => (runner.Results.GetValueOrDefault((scenario.Name, server)) ?? [])
                    .Select((m, i) => (server, round: i + 1, m)))
                .Where(x => !x.m.Ok || x.m.Note is not null)
                .Select(x => $"- {x.server}, round {x.round}: " +
                    (x.m.Ok ? string.Empty : (x.m.Failure ?? $"{x.m.Errors} error(s), {x.m.Mismatches} mismatched message(s)") + ". ") +
                    (x.m.Note ?? string.Empty))
                .Distinct()
                .Take(12)
                .ToList();
            if (notes.Count > 0)
            {
                sb.AppendLine();
                sb.AppendLine("Notes:");
                foreach (var note in notes)
                {
                    sb.AppendLine(note);
                }
            }

            sb.AppendLine();
        }

        return sb.ToString().TrimEnd() + Environment.NewLine;
    }

    /// <summary>Writes <paramref name="generated"/> between the markers of an existing file, or as a new file.</summary>
    public static void WriteTo(string path, string generated)
    {
        var block = $"{BeginMarker}{Environment.NewLine}{generated}{EndMarker}";
        string content;
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path);
            var begin = existing.IndexOf(BeginMarker, StringComparison.Ordinal);
            var end = existing.IndexOf(EndMarker, StringComparison.Ordinal);
            content = begin >= 0 && end > begin
                ? existing[..begin] + block + existing[(end + EndMarker.Length)..]
                : $"# EchoKit benchmarks{Environment.NewLine}{Environment.NewLine}{block}{Environment.NewLine}";
        }
        else
        {
            content = $"# EchoKit benchmarks{Environment.NewLine}{Environment.NewLine}{block}{Environment.NewLine}";
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(path, content);
    }

    public static string MachineDescription()
    {
        var memory = ProcFs.FindLine("/proc/meminfo", "MemTotal");
        var memoryText = memory is null ? "unknown" :
            $"{long.Parse(memory.Split(' ')[0], Invariant) / 1048576.0:0.0} GiB";
        var cpu = ProcFs.FindLine("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "unknown";
        return $"EchoKit source (when the run started): {SourceDescription}. Machine: {Environment.ProcessorCount} logical CPUs ({cpu}), {memoryText} memory, {RuntimeInformation.OSDescription} (kernel {kernel}), " +
            $"{RuntimeInformation.FrameworkDescription} {RuntimeInformation.ProcessArchitecture}, " +
            $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC ({GCSettings.LatencyMode}), open-file limit {ProcFs.Limit("Max open files") ?? "unknown"}. " +
            "Client and servers share the machine; each server runs in its own process.";
    }

    /// <summary>Which load client produced the numbers (<c>--client</c>).</summary>
    public static string ClientDescription(RunSettings settings) => settings.Client == LoadClientKind.Native
        ? "Load client: **native** (`--client native`): pingpong, rate and throughput are driven by echoload " +
          "(tests/EchoKit.Benchmarks/Native/echoload.c, single-threaded epoll in C, compiled with gcc -O2 at run time, in its own process); " +
          "churn, idle and noread by the .NET client (src/EchoKit.LoadGenerator) in the orchestrating process."
        : "Load client: **dotnet** (`--client dotnet`, the default): every scenario is driven by the .NET client (src/EchoKit.LoadGenerator) in the orchestrating process.";

    /// <summary>Set by <see cref="CaptureSource"/> when a run starts.</summary>
    public static string SourceDescription { get; private set; } = "unknown";

    /// <summary>Records the commit under test before the run (the engine may change while it runs).</summary>
    public static void CaptureSource() => SourceDescription = GitDescription();

    /// <summary>The commit under test and whether src/EchoKit had uncommitted changes; "unknown" without git.</summary>
    private static string GitDescription()
    {
        try
        {
            var commit = Git("rev-parse --short HEAD");
            var dirty = Git("status --porcelain -- src/EchoKit");
            return commit.Length == 0 ? "unknown" : dirty.Length == 0 ? $"commit {commit}" : $"commit {commit} plus uncommitted changes in src/EchoKit";
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            return "unknown";
        }

        static string Git(string arguments)
        {
            using var git = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            }) ?? throw new InvalidOperationException("git did not start");
            var output = git.StandardOutput.ReadToEndAsync();
            if (!git.WaitForExit(10_000))
            {
                git.Kill();
                throw new TimeoutException();
            }

            return git.ExitCode == 0 ? output.GetAwaiter().GetResult().Trim() : string.Empty;
        }
    }

    private static string Arrow(Better better) => better switch
    {
        Better.Higher => "↑",
        Better.Lower => "↓",
        _ => string.Empty,
    };

    private static double? Median(Runner runner, Scenario scenario, string server, string key)
    {
        var values = (runner.Results.GetValueOrDefault((scenario.Name, server)) ?? [])
            .Where(m => m.Failure is null && m.Values.TryGetValue(key, out var v) && double.IsFinite(v))
            .Select(m => m.Values[key])
            .Order()
            .ToList();
        if (values.Count == 0)
        {
            return null;
        }

        var mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    private static string Cell(Runner runner, Scenario scenario, string server, MetricDef def)
    {
        var list = runner.Results.GetValueOrDefault((scenario.Name, server)) ?? [];
        if (list.Count > 0 && list.All(m => m.Failure is not null))
        {
            return "FAILED";
        }

        return Median(runner, scenario, server, def.Key) is { } value ? value.ToString(def.Format, Invariant) : "–";
    }

    /// <summary>
    /// The proxy comparison: each proxy's latency percentiles minus those of <see cref="BenchServers.Direct"/> (medians
    /// over rounds, same load), and the EchoKit proxy's added latency divided by each other proxy's.
    /// </summary>
    private static void AppendAddedLatency(StringBuilder sb, Runner runner, Scenario scenario, IReadOnlyList<string> servers, string? subject)
    {
        var latencies = scenario.Metrics.Where(d => d.Key is "p50" or "p90" or "p99" or "p999").ToList();
        var proxies = servers.Where(s => BenchServers.UpstreamOf(s) is not null).ToList();
        if (latencies.Count == 0 || proxies.Count == 0)
        {
            return;
        }

        double? Added(string proxy, MetricDef def) =>
            Median(runner, scenario, proxy, def.Key) is { } through && Median(runner, scenario, BenchServers.Direct, def.Key) is { } direct ? through - direct : null;

        sb.AppendLine();
        sb.AppendLine(Invariant, $"Added latency: the proxy's median minus {BenchServers.Direct}'s (the upstream alone), µs; lower is better.");
        sb.AppendLine();
        sb.Append("| proxy | ").AppendJoin(" | ", latencies.Select(d => "added " + d.Header.Replace(" µs", string.Empty, StringComparison.Ordinal))).AppendLine(" |");
        sb.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", latencies.Count))).AppendLine();
        foreach (var proxy in proxies)
        {
            sb.Append(Invariant, $"| {proxy} |").AppendJoin(string.Empty, latencies.Select(d => Added(proxy, d) is { } v ? $" {v.ToString("N1", Invariant)} |" : " – |")).AppendLine();
        }

        if (subject is null || BenchServers.UpstreamOf(subject) is null)
        {
            return;
        }

        foreach (var peer in proxies.Where(p => p != subject))
        {
            sb.Append(Invariant, $"| *EchoKit ÷ {peer}* |").AppendJoin(string.Empty, latencies.Select(d =>
                Added(subject, d) is { } a && Added(peer, d) is { } b && b > 0 ? $" {(a / b).ToString("0.00", Invariant)}× |" : " – |")).AppendLine();
        }
    }

    private static string Ratio(Runner runner, Scenario scenario, string subject, string peer, MetricDef def)
    {
        var echoKit = Median(runner, scenario, subject, def.Key);
        var other = Median(runner, scenario, peer, def.Key);
        if (echoKit is not { } a || other is not { } b || def.Better == Better.None)
        {
            return "–";
        }

        if (b == 0)
        {
            return a == 0 ? "1.00×" : "∞";
        }

        return (a / b).ToString("0.00", Invariant) + "×";
    }
}
