using System.Diagnostics;
using EchoKit.LoadGenerator;

namespace EchoKit.Benchmarks.Orchestration;

internal enum Better
{
    Higher,
    Lower,
    None,
}

/// <summary>One reported number: its key, column header, format and which direction is better.</summary>
internal sealed record MetricDef(string Key, string Header, string Format, Better Better);

/// <summary>What one scenario measured against one server in one round.</summary>
internal sealed class Measurement
{
    public Dictionary<string, double> Values { get; } = [];

    public long Errors { get; set; }

    public long Mismatches { get; set; }

    /// <summary>Why the server failed this round (did not start, crashed, stopped answering); null when it did not.</summary>
    public string? Failure { get; set; }

    /// <summary>First client-side error, or a note about the stop.</summary>
    public string? Note { get; set; }

    public bool Ok => Failure is null && Errors == 0 && Mismatches == 0;
}

/// <summary>Everything a scenario needs: the server process and the run's settings.</summary>
internal sealed class ScenarioContext(ServerProcess server, RunSettings settings)
{
    public ServerProcess Server { get; } = server;

    public RunSettings Settings { get; } = settings;

    /// <summary>The PROXY header the load sends: v2 for the server that expects one, none otherwise.</summary>
    public ProxyHeaderVersion ProxyHeader => Server.Name == Servers.BenchServers.EchoKitProxy ? ProxyHeaderVersion.V2 : ProxyHeaderVersion.None;

    public double Cpu() => ProcFs.CpuSeconds(Server.Pid);

    public long Rss() => ProcFs.RssBytes(Server.Pid);

    /// <summary>Marks the start or end of a measurement window: the server's CPU time now, and a request for its allocated bytes.</summary>
    public double MarkWindow()
    {
        Server.RequestAllocatedBytes();
        return Cpu();
    }

    /// <summary>Bytes the server allocated between the two <see cref="MarkWindow"/> calls, per <paramref name="units"/>; NaN when unknown.</summary>
    public async Task<double> AllocatedPerAsync(long units)
    {
        var start = await Server.ReadAllocatedBytesAsync();
        var end = await Server.ReadAllocatedBytesAsync();
        return start is { } s && end is { } e && units > 0 ? (e - s) / (double)units : double.NaN;
    }
}

/// <summary>A named load shape with its metrics.</summary>
internal sealed record Scenario(
    string Name,
    string Title,
    string Description,
    IReadOnlyList<MetricDef> Metrics,
    IReadOnlyList<string> SummaryMetrics,
    Func<ScenarioContext, Task<Measurement>> RunAsync);

internal static class Scenarios
{
    public const string PeakRss = "peak_rss_mib";

    private const double MiB = 1024 * 1024;
    private const double GiB = 1024 * MiB;

    private static readonly MetricDef MsgsPerSecond = new("msgs_s", "msgs/s", "N0", Better.Higher);
    private static readonly MetricDef MiBPerSecond = new("mib_s", "MiB/s", "N1", Better.Higher);
    private static readonly MetricDef P50 = new("p50", "p50 µs", "N1", Better.Lower);
    private static readonly MetricDef P90 = new("p90", "p90 µs", "N1", Better.Lower);
    private static readonly MetricDef P99 = new("p99", "p99 µs", "N1", Better.Lower);
    private static readonly MetricDef P999 = new("p999", "p99.9 µs", "N1", Better.Lower);
    private static readonly MetricDef CpuPerMillion = new("cpu_s_per_m", "server CPU s / M msgs", "N2", Better.Lower);
    private static readonly MetricDef CpuPerGiB = new("cpu_s_per_gib", "server CPU s / GiB", "N2", Better.Lower);
    private static readonly MetricDef CpuPercent = new("cpu_pct", "server CPU %", "N0", Better.None);
    private static readonly MetricDef PeakRssMetric = new(PeakRss, "server peak RSS MiB", "N1", Better.Lower);
    private static readonly MetricDef AllocPerMessage = new("alloc_b_per_msg", "server alloc B / msg", "N1", Better.Lower);
    private static readonly MetricDef AllocPerConnection = new("alloc_b_per_conn", "server alloc B / conn", "N0", Better.Lower);

    public static IReadOnlyList<Scenario> All { get; } =
    [
        new("pingpong", "Ping-pong latency",
            "1 connection, 64 B messages, 1 in flight: round-trip latency.",
            [P50, P90, P99, P999, MsgsPerSecond, CpuPerMillion, CpuPercent, PeakRssMetric],
            ["p50", "p99", "p999"],
            ctx => EchoAsync(ctx, connections: 1, messageSize: 64, inFlight: 1)),
        new("rate", "Message rate",
            "100 connections × 32 B messages × 16 in flight: messages per second.",
            [MsgsPerSecond, P50, P90, P99, P999, CpuPerMillion, CpuPercent, AllocPerMessage, PeakRssMetric],
            ["msgs_s", "cpu_s_per_m"],
            ctx => EchoAsync(ctx, connections: 100, messageSize: 32, inFlight: 16)),
        new("throughput", "Throughput",
            "50 connections × 16 KiB messages × 4 in flight: MiB echoed per second.",
            [MiBPerSecond, MsgsPerSecond, P50, P90, P99, P999, CpuPerGiB, CpuPercent, PeakRssMetric],
            ["mib_s", "cpu_s_per_gib"],
            ctx => EchoAsync(ctx, connections: 50, messageSize: 16 * 1024, inFlight: 4)),
        new("churn", "Connection churn",
            "Workers that each connect, echo 64 B, verify and close, in a loop: connections per second.",
            [new("conn_s", "conn/s", "N0", Better.Higher), P50, P99, new("cpu_s_per_m", "server CPU s / M conns", "N1", Better.Lower), CpuPercent, AllocPerConnection, PeakRssMetric],
            ["conn_s"],
            ChurnAsync),
        new("idle", "Idle connections",
            "Open N connections (one verified echo each), leave them idle: server memory per connection.",
            [new("open", "connections open", "N0", Better.Higher), new("kib_per_conn", "RSS KiB / conn", "N2", Better.Lower),
             new("rss_after_mib", "RSS with all open MiB", "N1", Better.Lower), new("open_s", "time to open s", "N2", Better.Lower),
             new("idle_cpu_ms_s", "idle CPU ms/s", "N2", Better.Lower), PeakRssMetric],
            ["kib_per_conn"],
            IdleAsync),
        new("noread", "Clients that never read",
            "Connections that each send up to N bytes and never read the echo: does the server apply backpressure or buffer without bound?",
            [new("sent_mib", "client sent MiB", "N1", Better.None), new("rss_growth_mib", "server RSS growth MiB", "N1", Better.Lower),
             PeakRssMetric, new("healthy", "healthy after", "N0", Better.Higher)],
            [PeakRss],
            NoReadAsync),
    ];

    private static async Task<Measurement> EchoAsync(ScenarioContext ctx, int connections, int messageSize, int inFlight)
    {
        if (ctx.Settings.Client == LoadClientKind.Native)
        {
            return await NativeEchoAsync(ctx, connections, messageSize, inFlight);
        }

        double cpuStart = double.NaN, cpuEnd = double.NaN;
        var result = await LoadClient.RunEchoAsync(new EchoLoadOptions
        {
            EndPoint = ctx.Server.EndPoint,
            Connections = connections,
            MessageSize = messageSize,
            MessagesInFlight = inFlight,
            ProxyHeader = ctx.ProxyHeader,
            Duration = ctx.Settings.Duration,
            Warmup = ctx.Settings.Warmup,
            MeasurementStarted = () => cpuStart = ctx.MarkWindow(),
            MeasurementEnded = () => cpuEnd = ctx.MarkWindow(),
        });

        var cpu = cpuEnd - cpuStart;
        var m = new Measurement { Errors = result.Errors, Mismatches = result.Mismatches, Note = result.FirstError };
        m.Values["msgs_s"] = result.MessagesPerSecond;
        m.Values["mib_s"] = result.MiBPerSecond;
        m.Values["p50"] = result.Latency.P50;
        m.Values["p90"] = result.Latency.P90;
        m.Values["p99"] = result.Latency.P99;
        m.Values["p999"] = result.Latency.P999;
        m.Values["cpu_s_per_m"] = result.Messages > 0 ? cpu / (result.Messages / 1e6) : double.NaN;
        m.Values["cpu_s_per_gib"] = result.Bytes > 0 ? cpu / (result.Bytes / GiB) : double.NaN;
        m.Values["cpu_pct"] = result.Elapsed > TimeSpan.Zero ? cpu / result.Elapsed.TotalSeconds * 100 : double.NaN;
        m.Values["alloc_b_per_msg"] = await ctx.AllocatedPerAsync(result.Messages);
        if (result.Messages == 0)
        {
            m.Failure ??= "no message was echoed in the measurement window";
        }

        return m;
    }

    /// <summary>The same load and metrics as <see cref="EchoAsync"/>, driven by echoload (Native/echoload.c) in its own process.</summary>
    private static async Task<Measurement> NativeEchoAsync(ScenarioContext ctx, int connections, int messageSize, int inFlight)
    {
        double cpuStart = double.NaN, cpuEnd = double.NaN;
        var result = await NativeLoadClient.RunAsync(
            ctx, connections, messageSize, inFlight, () => cpuStart = ctx.MarkWindow(), () => cpuEnd = ctx.MarkWindow());

        var cpu = cpuEnd - cpuStart;
        var m = new Measurement { Errors = result.Errors - result.Mismatches, Mismatches = result.Mismatches, Note = result.FirstError };
        m.Values["msgs_s"] = result.MessagesPerSecond;
        m.Values["mib_s"] = result.MiBPerSecond;
        m.Values["p50"] = result.P50;
        m.Values["p90"] = result.P90;
        m.Values["p99"] = result.P99;
        m.Values["p999"] = result.P999;
        m.Values["cpu_s_per_m"] = result.Messages > 0 ? cpu / (result.Messages / 1e6) : double.NaN;
        m.Values["cpu_s_per_gib"] = result.Bytes > 0 ? cpu / (result.Bytes / GiB) : double.NaN;
        m.Values["cpu_pct"] = result.Seconds > 0 ? cpu / result.Seconds * 100 : double.NaN;
        m.Values["alloc_b_per_msg"] = await ctx.AllocatedPerAsync(result.Messages);
        if (result.Messages == 0)
        {
            m.Failure ??= "no message was echoed in the measurement window";
        }

        return m;
    }

    private static async Task<Measurement> ChurnAsync(ScenarioContext ctx)
    {
        double cpuStart = double.NaN, cpuEnd = double.NaN;
        var result = await LoadClient.RunChurnAsync(new ChurnOptions
        {
            EndPoint = ctx.Server.EndPoint,
            Concurrency = ctx.Settings.ChurnConcurrency,
            ProxyHeader = ctx.ProxyHeader,
            MessageSize = 64,
            Duration = ctx.Settings.Duration,
            Warmup = ctx.Settings.Warmup,
            SourceAddresses = LoadTarget.LoopbackSources(ctx.Settings.SourceAddresses),
            MeasurementStarted = () => cpuStart = ctx.MarkWindow(),
            MeasurementEnded = () => cpuEnd = ctx.MarkWindow(),
        });

        var cpu = cpuEnd - cpuStart;
        var m = new Measurement { Errors = result.Errors, Mismatches = result.Mismatches, Note = result.FirstError };
        m.Values["conn_s"] = result.ConnectionsPerSecond;
        m.Values["p50"] = result.Latency.P50;
        m.Values["p99"] = result.Latency.P99;
        m.Values["cpu_s_per_m"] = result.Connections > 0 ? cpu / (result.Connections / 1e6) : double.NaN;
        m.Values["cpu_pct"] = result.Elapsed > TimeSpan.Zero ? cpu / result.Elapsed.TotalSeconds * 100 : double.NaN;
        m.Values["alloc_b_per_conn"] = await ctx.AllocatedPerAsync(result.Connections);
        if (result.Connections == 0)
        {
            m.Failure ??= "no connection completed in the measurement window";
        }

        return m;
    }

    private static async Task<Measurement> IdleAsync(ScenarioContext ctx)
    {
        var settings = ctx.Settings;
        var target = ctx.Server.EndPoint;

        // Prime: the accept and echo paths get compiled and pools get created before the baseline is taken.
        using (await LoadClient.OpenIdleAsync(new IdleOptions { EndPoint = target, Connections = Math.Min(100, settings.IdleConnections) }))
        {
        }

        await Task.Delay(settings.Smoke ? 200 : 1000);
        var before = ctx.Rss();
        var started = Stopwatch.GetTimestamp();
        using var set = await LoadClient.OpenIdleAsync(new IdleOptions
        {
            EndPoint = target,
            Connections = settings.IdleConnections,
            SourceAddresses = LoadTarget.LoopbackSources(settings.SourceAddresses),
        });
        var openSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await Task.Delay(settings.Smoke ? 200 : 1000);
        var after = ctx.Rss();
        var idleWindow = settings.Smoke ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(2);
        var cpuStart = ctx.Cpu();
        await Task.Delay(idleWindow);
        var cpu = ctx.Cpu() - cpuStart;
        await set.VerifyAsync();

        var m = new Measurement { Errors = set.Errors, Note = set.FirstError };
        m.Values["open"] = set.Count;
        m.Values["kib_per_conn"] = (after - before) / 1024.0 / settings.IdleConnections;
        m.Values["rss_after_mib"] = after / MiB;
        m.Values["open_s"] = openSeconds;
        m.Values["idle_cpu_ms_s"] = cpu * 1000 / idleWindow.TotalSeconds;
        return m;
    }

    private static async Task<Measurement> NoReadAsync(ScenarioContext ctx)
    {
        var before = ctx.Rss();
        var peak = before;
        using var sampleStop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            for (var i = 0; i < 1_000_000 && !sampleStop.IsCancellationRequested; i++)
            {
                peak = Math.Max(peak, ctx.Rss());
                await Task.Delay(10, CancellationToken.None);
            }
        });
        var result = await LoadClient.RunNoReadAsync(new NoReadOptions
        {
            EndPoint = ctx.Server.EndPoint,
            Connections = ctx.Settings.NoReadConnections,
            BytesPerConnection = ctx.Settings.NoReadBytes,
            Duration = ctx.Settings.Duration,
            SourceAddresses = LoadTarget.LoopbackSources(ctx.Settings.SourceAddresses),
        });
        await sampleStop.CancelAsync();
        await sampler;

        // Still serving? One fresh connection, one verified echo.
        var healthy = false;
        try
        {
            using var check = await LoadClient.OpenIdleAsync(new IdleOptions { EndPoint = ctx.Server.EndPoint, Connections = 1 });
            healthy = check.Count == 1;
        }
        catch (InvalidOperationException)
        {
        }

        var m = new Measurement { Errors = result.Errors, Note = result.FirstError };
        m.Values["sent_mib"] = result.BytesSent / MiB;
        m.Values["rss_growth_mib"] = (peak - before) / MiB;
        m.Values["healthy"] = healthy ? 1 : 0;
        if (!healthy)
        {
            m.Failure = "did not echo on a new connection after the non-reading clients left";
        }

        return m;
    }
}
