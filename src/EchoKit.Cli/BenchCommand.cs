using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using EchoKit.LoadGenerator;
using static EchoKit.Cli.EchoKitCommandLine;
using static EchoKit.Cli.ValueParsers;
using EchoKit.Shared;
using static EchoKit.Shared.ValueGrammar;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit bench HOST:PORT</c>: pipelined echo load on any RFC 862 server through <see cref="LoadClient.RunEchoAsync"/>
/// or, with <c>--udp</c>, <see cref="LoadClient.RunUdpEchoAsync"/> (the load client of the benchmark suite), with a live
/// progress display on standard error (<see cref="BenchProgress"/>) and a text or JSON report (<see cref="BenchReport"/>).
/// </summary>
internal sealed class BenchCommand
{
    private const int DefaultConnections = 4;
    private const int DefaultSize = 64;
    private const int DefaultInFlight = 1;
    private static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DefaultWarmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DefaultLossTimeout = TimeSpan.FromSeconds(1);

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

    private readonly Option<int> _connections = NewOption("--connections", "n", $"Connections, each carrying its own stream of messages (with --udp: flows, each a UDP socket with its own source port). [default: {DefaultConnections}]", Count(1), "-c");

    private readonly Option<int> _size = NewOption<int>("--size", "size", $"Bytes per message, such as 64, 4k or 1MiB (with --udp: per datagram, 8 to 65507 over IPv4). [default: {DefaultSize}]", TryParseInt32Size, "-s");

    private readonly Option<int> _inFlight = NewOption("--in-flight", "n", $"Messages in flight per connection (pipelining): 1 is ping-pong; more sends the next before the echo of the last is back. [default: {DefaultInFlight}]", Count(1), "-p");

    private readonly Option<TimeSpan> _duration = NewOption<TimeSpan>("--duration", "time", $"How long to measure, after the warm-up: seconds (5, 0.5) or 500ms, 30s, 2m. [default: {FormatDuration(DefaultDuration)}]", TryParseDuration, "-d");

    private readonly Option<TimeSpan> _warmup = NewOption<TimeSpan>("--warmup", "time", $"How long to run before measuring; 0 for none. [default: {FormatDuration(DefaultWarmup)}]", TryParseDuration, "-w");

    private readonly Option<TimeSpan> _connectTimeout = NewOption<TimeSpan>("--connect-timeout", "time", $"How long one connection attempt may take before it counts as an error (TCP). [default: {FormatDuration(DefaultConnectTimeout)}]", TryParseDuration);

    private readonly Option<bool> _udp = new("--udp") { Description = "Load over UDP: each connection is a flow (a UDP socket with its own source port); a datagram not echoed within --loss-timeout counts as lost, not as an error." };

    private readonly Option<TimeSpan> _lossTimeout = NewOption<TimeSpan>("--loss-timeout", "time", $"With --udp: how long a datagram may take to come back before it counts as lost. [default: {FormatDuration(DefaultLossTimeout)}]", TryParseDuration);

    private readonly Option<double> _maxLoss = NewOption<double>("--max-loss", "percent", "With --udp: fail (exit code 1) when more than this percentage of the datagrams is lost, such as 1 or 0.1%. [default: loss alone does not fail]", TryParsePercent);

    private readonly Option<bool> _greeting = new("--greeting") { Description = $"Each connection first reads one line the server sends on accept (up to \\n, at most {EchoLoadOptions.MaxGreetingLength} bytes, within --connect-timeout), as echokit serve --greeting sends, and keeps it out of the echo; the report counts connections per distinct greeting, to see a balancer's spread (TCP)." };

    private readonly Option<ProxyHeaderVersion> _proxyProtocol = NewOption<ProxyHeaderVersion>("--proxy-protocol", "v1|v2", "Each connection first sends a PROXY protocol header naming its own address as the client's, to load a server that expects one (serve --proxy-protocol) without a balancer (TCP).", TryParseProxyVersion);

    private readonly Option<bool> _reconnect = new("--reconnect") { Description = "A connection the server closes or resets is opened again until the run ends (a rolling restart behind a balancer); each message it had sent and not got back whole is a failed echo, a close between echoes is not. Exits with 1 on any failed echo (TCP)." };

    private readonly Option<bool> _connectPerEcho = new("--connect-per-echo") { Description = "Each echo on a new connection: connect, send one message, read its echo, close (netperf's TCP_CRR); the latency runs from the connect. --connections workers do so at once (TCP)." };

    private readonly Option<int> _rate = NewOption("--rate", "msgs/s", "A constant rate, all connections together (an open model, as wrk2): messages are sent on schedule whether or not the echoes keep up (within --in-flight), and each latency runs from when the message was due, so a stall shows in the percentiles (corrected for coordinated omission); a message may leave up to 2 ms early, the timer's resolution (TCP).", Count(1));

    private readonly Option<bool> _json = new("--json") { Description = "Print the result as JSON on standard output (progress and errors stay on standard error)." };

    private readonly Option<TimeSpan> _progressInterval = NewOption<TimeSpan>("--progress-interval", "time", "How often the progress display is updated; 0 turns it off. [default: 250ms on a terminal, 5s when standard error is redirected]", TryParseDuration);

    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "No progress display." };

    /// <summary>Shown after <c>echokit bench --help</c>.</summary>
    public static string[] Examples { get; } =
    [
        "echokit bench 127.0.0.1:7007",
        "echokit bench 127.0.0.1:7007 -c 64 -s 16k -p 8 -d 30s",
        "echokit bench --udp 127.0.0.1:7007 -c 8 -p 4 --max-loss 1",
        "echokit bench echo.example.com:7 --duration 10 --json > result.json",
        "echokit bench 127.0.0.1:8080 -c 8 --reconnect -d 60s          (through a rolling restart)",
        "echokit bench 127.0.0.1:7007 -c 4 --connect-per-echo",
        "echokit bench 127.0.0.1:7007 -c 16 -p 16 --rate 50000 --json   (latency at a fixed load)",
    ];

    public static Command Create(CliConsole console)
    {
        var options = new BenchCommand();
        var command = new Command("bench", """
            Load any RFC 862 echo server over TCP, or over UDP with --udp, and verify every echoed byte; print
            throughput, messages per second, latency percentiles (p50, p90, p99, p99.9; --json has the full spectrum),
            errors and, for UDP, lost datagrams. Exits with 1 on any error, failed echo or mismatched byte, when nothing
            was echoed, or when more datagrams were lost than --max-loss allows.
            """)
        {
            options._target, options._connections, options._size, options._inFlight, options._duration, options._warmup,
            options._connectTimeout, options._greeting, options._proxyProtocol, options._reconnect, options._connectPerEcho, options._rate,
            options._udp, options._lossTimeout, options._maxLoss, options._json,
            options._progressInterval, options._quiet,
        };
        command.SetAction((parseResult, _) => options.RunAsync(parseResult, console));
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CliConsole console)
    {
        var udp = parseResult.GetValue(_udp);
        if (FlagsThatDoNotApply(parseResult, udp) is { } misuse)
        {
            return await UsageErrorAsync(console, "bench", misuse).ConfigureAwait(false);
        }

        var target = parseResult.GetValue(_target)!;
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

        var settings = new BenchSettings(
            target,
            endPoint,
            udp,
            ValueOr(parseResult, _connections, DefaultConnections),
            ValueOr(parseResult, _size, DefaultSize),
            ValueOr(parseResult, _inFlight, DefaultInFlight),
            ValueOr(parseResult, _duration, DefaultDuration),
            ValueOr(parseResult, _warmup, DefaultWarmup),
            ValueOr(parseResult, _connectTimeout, DefaultConnectTimeout),
            ValueOr(parseResult, _lossTimeout, DefaultLossTimeout),
            parseResult.IsGiven(_maxLoss) ? parseResult.GetValue(_maxLoss) : null)
        {
            ReadGreeting = parseResult.GetValue(_greeting),
            ProxyHeader = ValueOr(parseResult, _proxyProtocol, ProxyHeaderVersion.None),
            Reconnect = parseResult.GetValue(_reconnect),
            ConnectPerEcho = parseResult.GetValue(_connectPerEcho),
            Rate = parseResult.IsGiven(_rate) ? parseResult.GetValue(_rate) : null,
        };
        var live = new LoadProgress();
        var progress = new LiveLine(console.Error, console.ErrorIsTerminal, console.Width);
        var interval = ValueOr(parseResult, _progressInterval, BenchProgress.DefaultInterval(progress.Interactive));
        var display = new BenchProgress(progress, settings, live, interval);
        Func<CancellationToken, Task<BenchOutcome>> run;
        try
        {
            run = settings.Udp ? PrepareUdp(settings, live, display)
                : settings.ConnectPerEcho ? PrepareConnectPerEcho(settings, display)
                : PrepareTcp(settings, live, display);
        }
        catch (ArgumentException ex)
        {
            return await UsageErrorAsync(console, "bench", Explain(ex)).ConfigureAwait(false);
        }

        using var progressStop = new CancellationTokenSource();
        var showing = parseResult.GetValue(_quiet) || interval == TimeSpan.Zero
            ? Task.CompletedTask
            : display.RunAsync(progressStop.Token);

        BenchOutcome result;
        try
        {
            result = await run(console.Stop).ConfigureAwait(false);
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
            await console.Error.WriteLineAsync($"echokit bench: the {settings.Streams} did not finish: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }

        await StopDisplayAsync().ConfigureAwait(false);
        var failure = result.FailureReason(settings);
        var ok = failure is null;
        await console.Output.WriteAsync(parseResult.GetValue(_json)
            ? BenchReport.ToJson(settings, result, ok) + Environment.NewLine
            : BenchReport.ToText(settings, result, ok)).ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        if (failure is not null)
        {
            await console.Error.WriteLineAsync($"echokit bench: FAILED: {failure}").ConfigureAwait(false);
        }

        return ok ? Success : Failure;

        async Task StopDisplayAsync()
        {
            await progressStop.CancelAsync().ConfigureAwait(false);
            await showing.ConfigureAwait(false);
            progress.Erase();
        }
    }

    private static Func<CancellationToken, Task<BenchOutcome>> PrepareTcp(BenchSettings settings, LoadProgress live, BenchProgress display)
    {
        var options = new EchoLoadOptions
        {
            EndPoint = settings.EndPoint,
            AllowNonLoopback = true,   // the user named the target; the loopback guard is for test code
            Connections = settings.Connections,
            MessageSize = settings.MessageSize,
            MessagesInFlight = settings.InFlight,
            Duration = settings.Duration,
            Warmup = settings.Warmup,
            ConnectTimeout = settings.ConnectTimeout,
            ReadGreeting = settings.ReadGreeting,
            ProxyHeader = settings.ProxyHeader,
            Reconnect = settings.Reconnect,
            MessagesPerSecond = settings.Rate,
            Progress = live,
            MeasurementStarted = display.MeasurementStarted,
            MeasurementEnded = display.MeasurementEnded,
        };
        options.Validate();
        return async cancellationToken => BenchOutcome.From(await LoadClient.RunEchoAsync(options, cancellationToken).ConfigureAwait(false), settings.ReadGreeting);
    }

    private static Func<CancellationToken, Task<BenchOutcome>> PrepareConnectPerEcho(BenchSettings settings, BenchProgress display)
    {
        var options = new ChurnOptions
        {
            EndPoint = settings.EndPoint,
            AllowNonLoopback = true,
            Concurrency = settings.Connections,
            MessageSize = settings.MessageSize,
            Duration = settings.Duration,
            Warmup = settings.Warmup,
            ConnectTimeout = settings.ConnectTimeout,
            ProxyHeader = settings.ProxyHeader,
            MeasurementStarted = display.MeasurementStarted,
            MeasurementEnded = display.MeasurementEnded,
        };
        options.Validate();
        return async cancellationToken => BenchOutcome.From(await LoadClient.RunChurnAsync(options, cancellationToken).ConfigureAwait(false), settings.MessageSize);
    }

    private static Func<CancellationToken, Task<BenchOutcome>> PrepareUdp(BenchSettings settings, LoadProgress live, BenchProgress display)
    {
        var options = new UdpEchoLoadOptions
        {
            EndPoint = settings.EndPoint,
            AllowNonLoopback = true,
            Flows = settings.Connections,
            MessageSize = settings.MessageSize,
            MessagesInFlight = settings.InFlight,
            Duration = settings.Duration,
            Warmup = settings.Warmup,
            LossTimeout = settings.LossTimeout,
            Progress = live,
            MeasurementStarted = display.MeasurementStarted,
            MeasurementEnded = display.MeasurementEnded,
        };
        options.Validate();
        return async cancellationToken => BenchOutcome.From(await LoadClient.RunUdpEchoAsync(options, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>A flag given for the other transport: a usage error, so a typo never silently changes the test.</summary>
    private string? FlagsThatDoNotApply(ParseResult parseResult, bool udp)
    {
        if (udp && parseResult.IsGiven(_connectTimeout))
        {
            return "--connect-timeout applies only to TCP: a UDP flow has no connection to open.";
        }

        foreach (var tcpOnly in new Option[] { _greeting, _proxyProtocol })
        {
            if (udp && parseResult.IsGiven(tcpOnly))
            {
                return $"{tcpOnly.Name} applies only to TCP: a UDP flow has no connection to start.";
            }
        }

        foreach (var tcpOnly in new Option[] { _reconnect, _connectPerEcho, _rate })
        {
            if (udp && parseResult.IsGiven(tcpOnly))
            {
                return $"{tcpOnly.Name} applies only to TCP.";
            }
        }

        if (parseResult.GetValue(_connectPerEcho))
        {
            foreach (var streamOnly in new Option[] { _reconnect, _rate, _inFlight, _greeting })
            {
                if (parseResult.IsGiven(streamOnly))
                {
                    return $"{streamOnly.Name} does not apply with --connect-per-echo: each connection carries one message.";
                }
            }
        }

        foreach (var udpOnly in new Option[] { _lossTimeout, _maxLoss })
        {
            if (!udp && parseResult.IsGiven(udpOnly))
            {
                return $"{udpOnly.Name} applies only with --udp.";
            }
        }

        if (parseResult.IsGiven(_lossTimeout) && parseResult.GetValue(_lossTimeout) <= TimeSpan.Zero)
        {
            return "--loss-timeout must be positive.";
        }

        return null;
    }

    /// <summary>The load client's message about an invalid setting, led by the flag that sets it.</summary>
    private static string Explain(ArgumentException exception)
    {
        var message = EchoServerOptionDescription.RuleOf(exception);
        string? flag = exception.ParamName switch
        {
            nameof(EchoLoadOptions.Connections) or nameof(UdpEchoLoadOptions.Flows) => "--connections",
            nameof(EchoLoadOptions.MessageSize) => "--size",
            nameof(EchoLoadOptions.MessagesInFlight) => "--in-flight",
            nameof(EchoLoadOptions.MessagesPerSecond) => "--rate",
            nameof(ChurnOptions.Concurrency) => "--connections",
            "duration" => "--duration",
            "warmup" => "--warmup",
            nameof(UdpEchoLoadOptions.LossTimeout) => "--loss-timeout",
            nameof(LoadTarget.ConnectTimeout) => "--connect-timeout",
            _ => null,
        };
        return flag is null ? message : $"invalid {flag}: {message}";
    }

    /// <summary><c>v1</c> or <c>v2</c> (also <c>1</c>, <c>2</c>).</summary>
    private static bool TryParseProxyVersion(string text, out ProxyHeaderVersion value, out ValueError error)
    {
        value = text.Trim().ToUpperInvariant() switch
        {
            "V1" or "1" => ProxyHeaderVersion.V1,
            "V2" or "2" => ProxyHeaderVersion.V2,
            _ => ProxyHeaderVersion.None,
        };
        error = value == ProxyHeaderVersion.None ? new ValueError("a PROXY protocol version", "write v1 (text) or v2 (binary)") : default;
        return value != ProxyHeaderVersion.None;
    }
}
