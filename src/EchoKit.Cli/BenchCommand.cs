using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EchoKit.LoadGenerator;
using static EchoKit.Cli.EchoKitCommandLine;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit bench HOST:PORT</c>: pipelined echo load on any RFC 862 server through <see cref="LoadClient.RunEchoAsync"/>
/// (the load client of the benchmark suite), with a progress display on standard error and a text or JSON report.
/// </summary>
internal sealed class BenchCommand
{
    private const int DefaultConnections = 4;
    private const int DefaultSize = 64;
    private const int DefaultInFlight = 1;
    private static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DefaultWarmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly Argument<BenchTarget> _target = new("host:port")
    {
        Description = "The echo server: 127.0.0.1:7007, [::1]:7007, a host name and port such as echo.example.com:7, or a port on localhost.",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (TryParseTarget(text, out var target, out var problem))
            {
                return target;
            }

            result.AddError($"Invalid target '{text}': {problem}");
            return null;
        },
    };

    private readonly Option<int> _connections = NewOption("--connections", "n", $"Connections, each carrying its own stream of messages. [default: {DefaultConnections}]", Count(1), "-c");

    private readonly Option<int> _size = NewOption<int>("--size", "size", $"Bytes per message, such as 64, 4k or 1MiB. [default: {DefaultSize}]", TryParseInt32Size, "-s");

    private readonly Option<int> _inFlight = NewOption("--in-flight", "n", $"Messages in flight per connection (pipelining): 1 is ping-pong; more sends the next before the echo of the last is back. [default: {DefaultInFlight}]", Count(1), "-p");

    private readonly Option<TimeSpan> _duration = NewOption<TimeSpan>("--duration", "time", "How long to measure, after the warm-up: seconds (5, 0.5) or 500ms, 30s, 2m. [default: 5s]", TryParseDuration, "-d");

    private readonly Option<TimeSpan> _warmup = NewOption<TimeSpan>("--warmup", "time", "How long to run before measuring; 0 for none. [default: 1s]", TryParseDuration, "-w");

    private readonly Option<TimeSpan> _connectTimeout = NewOption<TimeSpan>("--connect-timeout", "time", "How long one connection attempt may take before it counts as an error. [default: 5s]", TryParseDuration);

    private readonly Option<bool> _json = new("--json") { Description = "Print the result as JSON on standard output (progress and errors stay on standard error)." };

    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "No progress display." };

    /// <summary>Shown after <c>echokit bench --help</c>.</summary>
    public static string[] Examples { get; } =
    [
        "echokit bench 127.0.0.1:7007",
        "echokit bench 127.0.0.1:7007 -c 64 -s 16k -p 8 -d 30s",
        "echokit bench echo.example.com:7 --duration 10 --json > result.json",
    ];

    private enum Phase
    {
        WarmingUp,
        Measuring,
        Draining,
    }

    public static Command Create(CliConsole console)
    {
        var options = new BenchCommand();
        var command = new Command("bench", """
            Load any RFC 862 echo server over TCP and verify every echoed byte; print throughput, messages per second,
            latency percentiles (p50, p90, p99, p99.9) and errors. Exits with 1 on any error or mismatched byte.
            TCP only for now: UDP load is not supported yet.
            """)
        {
            options._target, options._connections, options._size, options._inFlight, options._duration, options._warmup,
            options._connectTimeout, options._json, options._quiet,
        };
        command.SetAction((parseResult, _) => options.RunAsync(parseResult, console));
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CliConsole console)
    {
        var target = parseResult.GetValue(_target)!;
        var json = parseResult.GetValue(_json);
        IPEndPoint endPoint;
        try
        {
            endPoint = await target.ResolveAsync(console.Stop).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            await console.Error.WriteLineAsync($"echokit bench: cannot resolve {target.Host}: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }
        catch (OperationCanceledException)
        {
            return Interrupted;
        }

        var state = new RunState();
        var options = new EchoLoadOptions
        {
            EndPoint = endPoint,
            AllowNonLoopback = true,   // the user named the target; the loopback guard is for test code
            Connections = ValueOr(parseResult, _connections, DefaultConnections),
            MessageSize = ValueOr(parseResult, _size, DefaultSize),
            MessagesInFlight = ValueOr(parseResult, _inFlight, DefaultInFlight),
            Duration = ValueOr(parseResult, _duration, DefaultDuration),
            Warmup = ValueOr(parseResult, _warmup, DefaultWarmup),
            ConnectTimeout = ValueOr(parseResult, _connectTimeout, DefaultConnectTimeout),
            MeasurementStarted = () =>
            {
                state.MeasureStarted = Stopwatch.GetTimestamp();
                state.Phase = Phase.Measuring;
            },
            MeasurementEnded = () => state.Phase = Phase.Draining,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            await console.Error.WriteLineAsync($"echokit bench: {ex.Message}").ConfigureAwait(false);
            await console.Error.WriteLineAsync("Run 'echokit bench --help' for usage.").ConfigureAwait(false);
            return Usage;
        }

        var resolved = IPAddress.TryParse(target.Host, out _) ? "" : $" ({endPoint})";
        var description = $"{target}{resolved} over TCP: {Formatting.Count(options.Connections)} connection(s), {Formatting.Count(options.MessageSize)}-byte messages, " +
            $"{Formatting.Count(options.MessagesInFlight)} in flight per connection, {Formatting.Seconds(options.Duration)}" +
            (options.Warmup > TimeSpan.Zero ? $" after a {Formatting.Seconds(options.Warmup)} warm-up" : " with no warm-up");
        var progress = new LiveLine(console.Error, console.ErrorIsTerminal, console.Width);

        using var progressStop = new CancellationTokenSource();
        var display = parseResult.GetValue(_quiet)
            ? Task.CompletedTask
            : ShowProgressAsync(progress, target, options, state, progressStop.Token);

        EchoLoadResult result;
        try
        {
            result = await LoadClient.RunEchoAsync(options, console.Stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
        {
            await StopDisplayAsync().ConfigureAwait(false);
            await console.Error.WriteLineAsync("echokit bench: interrupted; no result.").ConfigureAwait(false);
            return Interrupted;
        }
        catch (TimeoutException ex)
        {
            await StopDisplayAsync().ConfigureAwait(false);
            await console.Error.WriteLineAsync($"echokit bench: the connections did not finish: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }

        await StopDisplayAsync().ConfigureAwait(false);
        var ok = result.Errors == 0 && result.Mismatches == 0 && result.Messages > 0;
        if (json)
        {
            await console.Output.WriteLineAsync(ToJson(target, endPoint, options, result, ok)).ConfigureAwait(false);
        }
        else
        {
            await console.Output.WriteAsync(ToText(description, options, result, ok)).ConfigureAwait(false);
        }

        await console.Output.FlushAsync().ConfigureAwait(false);
        if (!ok)
        {
            var why = result.ConnectionsOpened == 0
                ? $"could not open any connection to {endPoint}: {result.FirstError}"
                : result.Errors > 0 || result.Mismatches > 0
                    ? $"{Formatting.Count(result.Errors)} error(s), {Formatting.Count(result.Mismatches)} mismatched message(s); first error: {result.FirstError ?? "none"}"
                    : "no message was echoed during the measurement";
            await console.Error.WriteLineAsync($"echokit bench: FAILED: {why}").ConfigureAwait(false);
        }

        return ok ? Success : Failure;

        async Task StopDisplayAsync()
        {
            await progressStop.CancelAsync().ConfigureAwait(false);
            await display.ConfigureAwait(false);
            progress.Erase();
        }
    }

    /// <summary>
    /// Shows the phase and the time left: redrawn 4 times a second on a terminal; as plain lines at each phase and
    /// every 5 s otherwise. (The load client reports no live counts, so the display is by time.)
    /// </summary>
    private static async Task ShowProgressAsync(LiveLine line, BenchTarget target, EchoLoadOptions options, RunState state, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        var shown = (Phase)(-1);
        var lastPlain = 0L;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(line.Interactive ? 250 : 100));
        try
        {
            do
            {
                var current = state.Phase;
                var now = Stopwatch.GetTimestamp();
                var measured = current == Phase.Measuring ? Stopwatch.GetElapsedTime(state.MeasureStarted, now) : TimeSpan.Zero;
                if (measured > options.Duration)
                {
                    measured = options.Duration;
                }

                if (line.Interactive)
                {
                    const int BarWidth = 30;
                    var filled = (int)Math.Round(measured / options.Duration * BarWidth);
                    line.Update(current switch
                    {
                        Phase.WarmingUp => $"connecting and warming up for {Formatting.Seconds(options.Warmup)}: {Formatting.Seconds(Stopwatch.GetElapsedTime(started, now))}",
                        Phase.Measuring => $"measuring [{new string('#', filled)}{new string('.', BarWidth - filled)}] {Formatting.Seconds(measured)} of {Formatting.Seconds(options.Duration)}",
                        _ => "draining the echoes still in flight",
                    });
                }
                else if (current != shown || (current == Phase.Measuring && Stopwatch.GetElapsedTime(lastPlain, now) >= TimeSpan.FromSeconds(5)))
                {
                    line.Update(current switch
                    {
                        Phase.WarmingUp => $"bench: connecting {Formatting.Count(options.Connections)} connection(s) to {target}" +
                            (options.Warmup > TimeSpan.Zero ? $", warming up for {Formatting.Seconds(options.Warmup)}" : ""),
                        Phase.Measuring when current != shown => $"bench: measuring for {Formatting.Seconds(options.Duration)}",
                        Phase.Measuring => $"bench: measuring, {Formatting.Seconds(TimeSpan.FromSeconds(Math.Round(measured.TotalSeconds)))} of {Formatting.Seconds(options.Duration)}",
                        _ => "bench: draining the echoes still in flight",
                    });
                    lastPlain = now;
                }

                shown = current;
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private static string ToText(string description, EchoLoadOptions options, EchoLoadResult result, bool ok)
    {
        var latency = result.Latency;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"echokit bench {description}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  messages     {Formatting.Count(result.Messages)} in {result.Elapsed.TotalSeconds:0.00} s: {Formatting.Count((long)result.MessagesPerSecond)} msgs/s");
        text.AppendLine(CultureInfo.InvariantCulture, $"  throughput   {Formatting.MiBPerSecond(result.Bytes / Math.Max(result.Elapsed.TotalSeconds, 1e-9))} each way ({result.Bytes * 8 / 1e6 / Math.Max(result.Elapsed.TotalSeconds, 1e-9):N1} Mbit/s)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  latency      p50 {Formatting.Microseconds(latency.P50)} us | p90 {Formatting.Microseconds(latency.P90)} us | p99 {Formatting.Microseconds(latency.P99)} us | " +
            $"p99.9 {Formatting.Microseconds(latency.P999)} us | mean {Formatting.Microseconds(latency.Mean)} us | max {Formatting.Microseconds(latency.Max)} us");
        text.AppendLine(CultureInfo.InvariantCulture, $"  verified     {Formatting.Count(result.MessagesVerified)} messages byte for byte (warm-up and drain included), {Formatting.Count(result.Mismatches)} mismatched");
        text.AppendLine(CultureInfo.InvariantCulture, $"  connections  {Formatting.Count(result.ConnectionsOpened)} of {Formatting.Count(options.Connections)} opened");
        text.AppendLine(CultureInfo.InvariantCulture, $"  errors       {Formatting.Count(result.Errors)}{(result.FirstError is { } first ? $" (first: {first})" : "")}");
        text.AppendLine(ok ? "PASS" : "FAIL");
        return text.ToString();
    }

    private static string ToJson(BenchTarget target, IPEndPoint endPoint, EchoLoadOptions options, EchoLoadResult result, bool ok)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("target", target.ToString());
            writer.WriteString("endPoint", endPoint.ToString());
            writer.WriteString("transport", "tcp");
            writer.WriteNumber("connections", options.Connections);
            writer.WriteNumber("messageSize", options.MessageSize);
            writer.WriteNumber("messagesInFlight", options.MessagesInFlight);
            writer.WriteNumber("durationSeconds", options.Duration.TotalSeconds);
            writer.WriteNumber("warmupSeconds", options.Warmup.TotalSeconds);
            writer.WriteNumber("elapsedSeconds", Math.Round(result.Elapsed.TotalSeconds, 6));
            writer.WriteNumber("connectionsOpened", result.ConnectionsOpened);
            writer.WriteNumber("messages", result.Messages);
            writer.WriteNumber("bytes", result.Bytes);
            writer.WriteNumber("messagesPerSecond", Math.Round(result.MessagesPerSecond, 3));
            writer.WriteNumber("mebibytesPerSecond", Math.Round(result.MiBPerSecond, 3));
            writer.WriteStartObject("latencyMicroseconds");
            writer.WriteNumber("p50", Math.Round(result.Latency.P50, 3));
            writer.WriteNumber("p90", Math.Round(result.Latency.P90, 3));
            writer.WriteNumber("p99", Math.Round(result.Latency.P99, 3));
            writer.WriteNumber("p999", Math.Round(result.Latency.P999, 3));
            writer.WriteNumber("mean", Math.Round(result.Latency.Mean, 3));
            writer.WriteNumber("max", Math.Round(result.Latency.Max, 3));
            writer.WriteNumber("count", result.Latency.Count);
            writer.WriteEndObject();
            writer.WriteNumber("messagesVerified", result.MessagesVerified);
            writer.WriteNumber("mismatches", result.Mismatches);
            writer.WriteNumber("errors", result.Errors);
            if (result.FirstError is { } firstError)
            {
                writer.WriteString("firstError", firstError);
            }
            else
            {
                writer.WriteNull("firstError");
            }

            writer.WriteBoolean("ok", ok);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The phase of the run, set from the load client's callbacks and read by the progress display.</summary>
    private sealed class RunState
    {
        private volatile int _phase;
        private long _measureStarted;

        public Phase Phase
        {
            get => (Phase)_phase;
            set => _phase = (int)value;
        }

        public long MeasureStarted
        {
            get => Volatile.Read(ref _measureStarted);
            set => Volatile.Write(ref _measureStarted, value);
        }
    }

    private static T ValueOr<T>(ParseResult parseResult, Option<T> option, T fallback) =>
        parseResult.IsGiven(option) ? parseResult.GetValue(option)! : fallback;
}
