using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EchoKit.Hosting;
using EchoKit.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static EchoKit.Cli.EchoKitCommandLine;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit serve</c>: builds <see cref="EchoServerOptions"/> from a JSON file (bound by EchoKit.Hosting, the keys
/// of its configuration section) and flags (applied after the file), runs the server with a live status line, and
/// stops it gracefully on Ctrl+C or SIGTERM.
/// </summary>
internal sealed partial class ServeCommand
{
    /// <summary>The endpoint used when neither flags nor the configuration file name one.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 7007);

    private const string PasswordVariable = "ECHOKIT_TLS_CERT_PASSWORD";

    /// <summary>One flag per option of <see cref="EchoServerOptionCatalog"/>, in its order, named and explained by it.</summary>
    private readonly List<(EchoServerOptionDescription Description, Option<List<object?>> Flag)> _optionFlags =
        [.. EchoServerOptionCatalog.All.Select(d => (d, OptionFlag(d, d.Flag, d.ValueName, HelpWithDefault(d))))];

    /// <summary><c>--unix PATH</c>: a Unix domain socket in <see cref="EchoServerOptions.EndPoints"/>, as <c>--tcp unix:PATH</c> is.</summary>
    private readonly Option<List<object?>> _unix = OptionFlag(
        EchoServerOptionCatalog.EndPoints, "--unix", "path", "A Unix domain socket to listen on (repeatable).", path => UnixPrefixed(path));

    private readonly Option<string> _config = NewTextOption("--config", "file.json", "Read the options from a JSON file, with the keys of EchoKit.Hosting's configuration section (its \"EchoServer\" section, or the root when it has none); flags are applied after it.");

    private readonly Option<string> _configSection = NewTextOption("--config-section", "name", "The section of --config to read, such as EchoServers:Health. [default: EchoServer if present, else the root]");

    private readonly Option<string> _tlsCert = NewTextOption("--tls-cert", "file", "The TLS server certificate with its private key: a .pfx/.p12 file, or a PEM file (with --tls-key, or with the key in the same file).");

    private readonly Option<string> _tlsKey = NewTextOption("--tls-key", "file", "The PEM private key of a PEM --tls-cert.");

    private readonly Option<string> _tlsCertPassword = NewTextOption("--tls-cert-password", "password", $"The password of --tls-cert (a .pfx file or an encrypted PEM key); the {PasswordVariable} environment variable keeps it off the command line.");

    private readonly Option<bool> _tlsSelfSigned = new("--tls-self-signed")
    {
        Description = "Use a new self-signed certificate for localhost, 127.0.0.1 and ::1 (for tests; clients must not verify it).",
    };

    private readonly Option<IPEndPoint> _admin = NewOption<IPEndPoint>("--admin", "endpoint", "Serve the admin HTTP API here (127.0.0.1:9901, [::1]:9901, or a port alone for loopback; port 0 picks one): GET/PUT/POST/DELETE /faults to change the fault rules while serving, GET /healthz, /readyz and /metrics (docs/ADMIN.md). Plain HTTP without authentication: keep it on loopback.", AdminEndpoint.TryParseEndPoint);

    private readonly Option<TimeSpan> _drainDelay = NewOption<TimeSpan>("--drain-delay", "time", "On Ctrl+C or SIGTERM, first keep accepting and echoing this long while /readyz answers 503, so a load balancer takes the server out before it stops. [default: 0s]", ValueGrammar.TryParseDuration);

    private readonly Option<TimeSpan> _statusInterval = NewOption<TimeSpan>("--status-interval", "time", "How often the status line is updated; 0 turns it off. [default: 1s on a terminal, 10s when the output is redirected]", ValueGrammar.TryParseDuration);

    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "No status line; only the listening endpoints, errors and the final summary." };

    private readonly Option<LogLevel> _logLevel = new("--log-level")
    {
        HelpName = "level",
        Description = "The server's log messages to show on standard error: Trace, Debug, Information, Warning, Error, Critical or None.",
        DefaultValueFactory = _ => LogLevel.Warning,
    };

    /// <summary>Shown after <c>echokit serve --help</c>.</summary>
    public static string[] Examples { get; } =
    [
        "echokit serve --tcp 7007 --udp 7007               # every interface, TCP and UDP",
        "echokit serve --tcp 127.0.0.1:0 --max-connections 1000 --idle-timeout 5m",
        "echokit serve --tls 7443 --tls-cert server.pfx --tls-cert-password secret",
        "echokit serve --tls 127.0.0.1:7443 --tls-self-signed",
        "echokit serve --config appsettings.json           # the \"EchoServer\" section, as in EchoKit.Hosting",
        "echokit serve --tcp 7007 --admin 9901 --drain-delay 5s  # faults, probes, metrics over HTTP on 127.0.0.1:9901",
    ];

    private ServeCommand()
    {
    }

    public static Command Create(CliConsole console)
    {
        var options = new ServeCommand();
        var command = new Command("serve", $"""
            Run an RFC 862 echo server with a live status line until Ctrl+C or SIGTERM, then stop gracefully (a second
            Ctrl+C aborts). With no endpoint from flags or --config, it listens on TCP {DefaultEndPoint}.
            """);
        // Help lists where to listen first, then where the options come from, then the limits and tuning.
        var endPointFlags = options._optionFlags.Where(f => f.Description is EndPointListOption).Select(f => f.Flag);
        var tuningFlags = options._optionFlags.Where(f => f.Description is not EndPointListOption).Select(f => f.Flag);
        Option[] all =
        [
            .. endPointFlags, options._unix, options._config, options._configSection,
            options._tlsCert, options._tlsKey, options._tlsCertPassword, options._tlsSelfSigned,
            .. tuningFlags, options._admin, options._drainDelay, options._statusInterval, options._quiet, options._logLevel,
        ];
        foreach (var option in all)
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, _) => options.RunAsync(parseResult, console));
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CliConsole console)
    {
        var live = new LiveLine(console.Output, console.OutputIsTerminal, console.Width, console.Error);

        IConfiguration? configuration = null;
        if (parseResult.GetValue(_config) is { } configPath)
        {
            if (LoadConfiguration(configPath, parseResult.GetValue(_configSection), out configuration) is { } problem)
            {
                return UsageError(console, problem);
            }
        }
        else if (parseResult.IsGiven(_configSection))
        {
            return UsageError(console, "--config-section needs --config.");
        }

        if (parseResult.GetValue(_tlsSelfSigned) && parseResult.GetValue(_tlsCert) is not null)
        {
            return UsageError(console, "--tls-self-signed and --tls-cert cannot be combined.");
        }

        if (parseResult.GetValue(_tlsKey) is not null && parseResult.GetValue(_tlsCert) is null)
        {
            return UsageError(console, "--tls-key needs --tls-cert.");
        }

        if (!TryLoadCertificate(parseResult, out var certificate, out var certificateProblem))
        {
            return UsageError(console, $"cannot load the TLS certificate: {certificateProblem}");
        }

        if (parseResult.GetValue(FlagOf(nameof(EchoServerOptions.TlsEndPoints))) is { Count: > 0 } && certificate is null)
        {
            return UsageError(console, "--tls needs a certificate: --tls-cert FILE (with --tls-cert-password or --tls-key when needed) or --tls-self-signed.");
        }

        var logLevel = parseResult.GetValue(_logLevel);
        var logProvider = new CliLoggerProvider(live);
        using var loggerFactory = LoggerFactory.Create(logging =>
        {
            logging.SetMinimumLevel(logLevel);
            if (logLevel != LogLevel.None)
            {
                logging.AddProvider(logProvider);
            }
        });

        var services = new ServiceCollection();
        services.AddSingleton(loggerFactory);
        void Configure(EchoServerOptions options) => Apply(parseResult, options, certificate);
        if (configuration is not null)
        {
            services.AddEchoServer(configuration, Configure);
        }
        else
        {
            services.AddEchoServer(Configure);
        }

        try
        {
            await using var provider = services.BuildServiceProvider();
            EchoServer server;
            TimeSpan shutdownTimeout;
            try
            {
                var options = provider.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(Options.DefaultName);
                shutdownTimeout = options.ShutdownTimeout;
                if (options.TlsEndPoints.Count == 0)
                {
                    InlineSocketCompletions.PreferUnlessSet();
                }

                server = provider.GetRequiredService<EchoServer>();
            }
            catch (OptionsValidationException ex)
            {
                return UsageError(console, "invalid options:" + string.Concat(ex.Failures.Select(f => Environment.NewLine + "  " + f)));
            }
            catch (ArgumentException ex)
            {
                return UsageError(console, "invalid options: " + ex.Message);
            }

            var admin = parseResult.GetValue(_admin) is { } adminEndPoint
                ? new AdminSettings(adminEndPoint, logProvider, logLevel, loggerFactory.CreateLogger("EchoKit.Cli.Admin"))
                : null;
            return await ServeAsync(server, shutdownTimeout, admin, parseResult, console, live).ConfigureAwait(false);
        }
        finally
        {
            certificate?.Dispose();
        }
    }

    private async Task<int> ServeAsync(EchoServer server, TimeSpan shutdownTimeout, AdminSettings? adminSettings, ParseResult parseResult, CliConsole console, LiveLine live)
    {
        var faulted = 0;
        server.ServerFaulted += (_, e) =>
        {
            Interlocked.Exchange(ref faulted, 1);
            live.WriteLine($"echokit serve: the listener on {e.EndPoint} failed: {e.Exception.Message}");
        };

        var lifecycle = new ServeLifecycle();
        using var faultsChanged = new SemaphoreSlim(0, 1);
        AdminEndpoint? admin = null;
        if (adminSettings is not null)
        {
            // Up before the echo listeners, so /readyz can answer 503 while they are bound.
            try
            {
                admin = await AdminEndpoint.StartAsync(
                    adminSettings.EndPoint, server, lifecycle, adminSettings.LogProvider, adminSettings.LogLevel, adminSettings.Logger,
                    () => Wake(faultsChanged), console.Stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
            {
                await console.Error.WriteLineAsync("echokit serve: stopped while starting.").ConfigureAwait(false);
                return Interrupted;
            }
            catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException)
            {
                await console.Error.WriteLineAsync($"echokit serve: failed to start the admin endpoint on {adminSettings.EndPoint}: {ex.Message}").ConfigureAwait(false);
                return Failure;
            }
        }

        try
        {
            return await RunServerAsync(server, shutdownTimeout, admin, lifecycle, faultsChanged, parseResult, console, live, () => Volatile.Read(ref faulted) != 0).ConfigureAwait(false);
        }
        finally
        {
            // Last, so /readyz answers 503 through the whole stop rather than refusing connections.
            if (admin is not null)
            {
                await admin.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<int> RunServerAsync(
        EchoServer server, TimeSpan shutdownTimeout, AdminEndpoint? admin, ServeLifecycle lifecycle, SemaphoreSlim faultsChanged,
        ParseResult parseResult, CliConsole console, LiveLine live, Func<bool> faulted)
    {
        try
        {
            await server.StartAsync(console.Stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
        {
            await console.Error.WriteLineAsync("echokit serve: stopped while starting.").ConfigureAwait(false);
            return Interrupted;
        }
        catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException or AuthenticationException
            or CryptographicException or PlatformNotSupportedException or NotSupportedException)
        {
            await console.Error.WriteLineAsync($"echokit serve: failed to start: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }

        lifecycle.MoveTo(ServePhase.Serving);
        var started = Stopwatch.GetTimestamp();
        foreach (var listener in server.Listeners)
        {
            await console.Output.WriteLineAsync($"Listening on {listener}").ConfigureAwait(false);
        }

        if (admin is not null)
        {
            await console.Output.WriteLineAsync($"Listening on admin {admin.EndPoint}").ConfigureAwait(false);
        }

        await console.Output.WriteLineAsync(console.OutputIsTerminal ? "Press Ctrl+C to stop." : "Send SIGINT or SIGTERM to stop.").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);

        var interval = parseResult.IsGiven(_statusInterval)
            ? parseResult.GetValue(_statusInterval)
            : TimeSpan.FromSeconds(console.OutputIsTerminal ? 1 : 10);
        var showFaults = admin is not null || server.Faults.Rules.Count > 0;
        var status = parseResult.GetValue(_quiet) || interval == TimeSpan.Zero
            ? Task.CompletedTask
            : ShowStatusAsync(server, live, interval, showFaults ? faultsChanged : null, console.Width, console.Stop);

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, console.Stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: stop gracefully.
        }

        await status.ConfigureAwait(false);
        live.Finish();
        if (parseResult.GetValue(_drainDelay) is var drainDelay && drainDelay > TimeSpan.Zero)
        {
            await DrainAsync(drainDelay, admin, lifecycle, console).ConfigureAwait(false);
        }

        lifecycle.MoveTo(ServePhase.Stopping);
        var draining = server.GetStatistics().ActiveConnections;
        await console.Output.WriteLineAsync(draining == 0
            ? "Stopping."
            : $"Stopping: letting {Formatting.Count(draining)} connection(s) finish their echoes for up to {Formatting.Seconds(shutdownTimeout)} (Ctrl+C again to abort).").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        await server.StopAsync(console.Abort).ConfigureAwait(false);

        var totals = server.GetStatistics();
        var summary = $"Stopped after {Formatting.Uptime(Stopwatch.GetElapsedTime(started))}: {Formatting.Count(totals.AcceptedConnections)} connection(s) accepted, " +
            $"{Formatting.Count(totals.RejectedConnections)} rejected, {Formatting.Bytes(totals.BytesReceived)} received, {Formatting.Bytes(totals.BytesSent)} echoed";
        if (server.Listeners.Any(l => l.Transport == EchoTransport.Udp))
        {
            summary += $", {Formatting.Count(totals.DatagramsEchoed)} datagram(s) echoed, {Formatting.Count(totals.DatagramsDropped)} dropped";
        }

        await console.Output.WriteLineAsync(summary + ".").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        return faulted() ? Failure : Success;
    }

    /// <summary>
    /// <c>--drain-delay</c>: not ready any more (<c>/readyz</c> 503) but still accepting and echoing, so whatever
    /// routes clients here (a load balancer polling <c>/readyz</c>) stops before connections are refused. A second
    /// Ctrl+C or SIGTERM cuts it short, and aborts the stop that follows, as it always does.
    /// </summary>
    private static async Task DrainAsync(TimeSpan delay, AdminEndpoint? admin, ServeLifecycle lifecycle, CliConsole console)
    {
        lifecycle.MoveTo(ServePhase.Draining);
        if (admin is not null)
        {
            admin.LogDraining(delay);
        }

        await console.Output.WriteLineAsync($"Draining: still accepting and echoing for {Formatting.Seconds(delay)}{(admin is null ? "" : ", /readyz answers 503")} (Ctrl+C again to stop at once).").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        try
        {
            await Task.Delay(delay, console.Abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The second signal: stop now.
        }
    }

    /// <summary>Lets the status loop redraw at once; one pending wake is enough however many changes come.</summary>
    private static void Wake(SemaphoreSlim signal)
    {
        try
        {
            if (signal.CurrentCount == 0)
            {
                signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another change woke it first.
        }
        catch (ObjectDisposedException)
        {
            // Serving is over.
        }
    }

    /// <summary>
    /// Updates the status line every <paramref name="interval"/> with rates over that interval and, with
    /// <paramref name="faultsChanged"/>, the rules in force: redrawn as soon as they change, not at the next tick.
    /// </summary>
    private static async Task ShowStatusAsync(EchoServer server, LiveLine live, TimeSpan interval, SemaphoreSlim? faultsChanged, int width, CancellationToken stop)
    {
        var hasUdp = server.Listeners.Any(l => l.Transport == EchoTransport.Udp);
        var hasTls = server.Listeners.Any(l => l.Transport == EchoTransport.Tls);
        var started = Stopwatch.GetTimestamp();
        var previous = server.GetStatistics();
        var previousAt = started;
        string? counters = null;
        using var timer = new PeriodicTimer(interval);
        Task<bool>? tick = null;
        Task? woken = null;
        try
        {
            while (true)
            {
                tick ??= timer.WaitForNextTickAsync(stop).AsTask();
                woken ??= faultsChanged?.WaitAsync(stop) ?? Task.Delay(Timeout.InfiniteTimeSpan, stop);
                if (await Task.WhenAny(tick, woken).ConfigureAwait(false) == woken)
                {
                    await woken.ConfigureAwait(false);
                    woken = null;
                    if (counters is not null)
                    {
                        // The counters of the last tick, the new rules: rates over a few milliseconds would mislead.
                        live.Update(StatusLine.Compose(counters, server.Faults.Rules, live.Interactive, width));
                        continue;
                    }
                }
                else if (!await tick.ConfigureAwait(false))
                {
                    break;
                }
                else
                {
                    tick = null;
                }

                var now = Stopwatch.GetTimestamp();
                var current = server.GetStatistics();
                var seconds = Math.Max(Stopwatch.GetElapsedTime(previousAt, now).TotalSeconds, 1e-3);
                var line = $"up {Formatting.Uptime(Stopwatch.GetElapsedTime(started, now))} | {Formatting.Count(current.ActiveConnections)} connections" +
                    $" | {Formatting.Rate((current.AcceptedConnections - previous.AcceptedConnections) / seconds)} accepted/s" +
                    $" | {Formatting.Count(current.RejectedConnections)} rejected" +
                    $" | in {Formatting.MiBPerSecond((current.BytesReceived - previous.BytesReceived) / seconds)}" +
                    $" | out {Formatting.MiBPerSecond((current.BytesSent - previous.BytesSent) / seconds)}";
                if (hasUdp)
                {
                    line += $" | udp {Formatting.Rate((current.DatagramsReceived - previous.DatagramsReceived) / seconds)} msgs/s" +
                        $", {Formatting.Count(current.DatagramsDropped)} dropped";
                }

                if (hasTls)
                {
                    line += $" | {Formatting.Count(current.TlsHandshakeFailures)} TLS handshake failures";
                }

                counters = line;
                live.Update(faultsChanged is null ? line : StatusLine.Compose(line, server.Faults.Rules, live.Interactive, width));
                previous = current;
                previousAt = now;
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Applies the flags the user typed, after the configuration file; adds the default endpoint when none is set.</summary>
    private void Apply(ParseResult parseResult, EchoServerOptions options, X509Certificate2? certificate)
    {
        foreach (var (description, flag) in _optionFlags.Append((EchoServerOptionCatalog.EndPoints, _unix)))
        {
            if (parseResult.IsGiven(flag))
            {
                description.Apply(options, parseResult.GetValue(flag) ?? []);
            }
        }

        if (options.EndPoints.Count == 0 && options.UdpEndPoints.Count == 0 && options.TlsEndPoints.Count == 0)
        {
            options.EndPoints.Add(DefaultEndPoint);
        }

        if (certificate is not null)
        {
            options.Tls.ServerCertificate = certificate;
        }
    }

    /// <summary>The flag of the option named <paramref name="property"/> (<c>TlsEndPoints</c>).</summary>
    private Option<List<object?>> FlagOf(string property) => _optionFlags.First(f => f.Description.Property == property).Flag;

    /// <summary>
    /// A flag that reads its values with <paramref name="description"/>'s grammar: a bad value, or one that breaks the
    /// option's rule on its own, is a parse error naming the flag. A list takes repeated flags and values separated by
    /// commas; a boolean may stand alone (<c>--keep-alive</c> is <c>--keep-alive true</c>). <paramref name="rewrite"/>
    /// turns what an alias flag takes into what the option reads; such a flag takes one value per token as it is
    /// written (a socket path may hold a comma).
    /// </summary>
    private static Option<List<object?>> OptionFlag(
        EchoServerOptionDescription description, string name, string helpName, string help, Func<string, string>? rewrite = null) =>
        new(name)
        {
            HelpName = helpName,
            Description = help,
            Arity = description.IsList ? ArgumentArity.OneOrMore : description.FlagValueIsOptional ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = result =>
            {
                var values = new List<object?>();
                IEnumerable<string> texts = result.Tokens.Count == 0 ? ["true"]
                    : rewrite is not null ? result.Tokens.Select(t => t.Value)
                    : description.IsList ? result.Tokens.SelectMany(t => ValueGrammar.IsOff(t.Value) ? [] : description.SplitList(t.Value))
                    : [result.Tokens[^1].Value];
                foreach (var text in texts)
                {
                    var given = rewrite is null ? text : rewrite(text);
                    if (!description.TryRead(given, OptionSource.CommandLine, out var value, out var error))
                    {
                        result.AddError(error.ForFlag(name, text));
                    }
                    else if (description.FindBrokenRule(value) is { } rule)
                    {
                        result.AddError($"Invalid value '{text}' for {name}: {rule}");
                    }
                    else
                    {
                        values.Add(value);
                    }
                }

                return values;
            },
        };

    /// <summary>The option's help, with its default from <c>new EchoServerOptions()</c> (none for an empty list).</summary>
    private static string HelpWithDefault(EchoServerOptionDescription description) =>
        description.IsList && description.DefaultText == ValueGrammar.EmptyList ? description.Help : $"{description.Help} [default: {description.DefaultText}]";

    private static string UnixPrefixed(string path) =>
        path.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) ? path : "unix:" + path;

    /// <summary>Reads the JSON file; returns a problem to report, or <see langword="null"/>.</summary>
    private static string? LoadConfiguration(string path, string? sectionName, out IConfiguration? configuration)
    {
        configuration = null;
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            return $"the configuration file {fullPath} does not exist.";
        }

        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonFile(fullPath, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
        {
            return $"cannot read the configuration file {fullPath}: {DescribeReadFailure(ex)}";
        }

        if (sectionName is not null)
        {
            var section = root.GetSection(sectionName);
            if (!section.Exists())
            {
                return $"the configuration file {fullPath} has no section '{sectionName}'.";
            }

            configuration = section;
        }
        else
        {
            var section = root.GetSection("EchoServer");
            configuration = section.Exists() ? section : root;
            if (configuration == root && ConfigurationKeyCheck.FindUnknownKeys(root) is { Count: > 0 } unknown)
            {
                // A file without an EchoServer section is the server's section; the binder checks only sections.
                return $"invalid options in {fullPath}:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", unknown)}";
            }
        }

        return null;
    }

    /// <summary>
    /// Where the JSON is malformed, as a person counts (line and column from 1), and why; otherwise the innermost
    /// reason. The configuration provider's own message ("Could not parse the JSON file") says neither.
    /// </summary>
    private static string DescribeReadFailure(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Text.Json.JsonException { LineNumber: { } line, BytePositionInLine: { } column } json)
            {
                var reason = json.Message;
                var at = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
                return $"malformed JSON at line {line + 1}, column {column + 1}: {(at > 0 ? reason[..at] : reason)}";
            }
        }

        return ex.GetBaseException().Message;
    }

    /// <summary>The certificate of --tls-cert (and --tls-key), or a self-signed one; none when neither is given.</summary>
    private bool TryLoadCertificate(ParseResult parseResult, out X509Certificate2? certificate, out string? problem)
    {
        certificate = null;
        problem = null;
        if (parseResult.GetValue(_tlsSelfSigned))
        {
            certificate = CreateSelfSigned();
            return true;
        }

        if (parseResult.GetValue(_tlsCert) is not { } certPath)
        {
            return true;
        }

        // The same loader as the Tls:Certificate configuration keys, so both report a bad file the same way.
        var keyPath = parseResult.GetValue(_tlsKey);
        var password = parseResult.GetValue(_tlsCertPassword) ?? Environment.GetEnvironmentVariable(PasswordVariable);
        if (EchoServerCertificateLoader.TryLoad(Path.GetFullPath(certPath), keyPath is null ? null : Path.GetFullPath(keyPath), password, out var loaded, out var failedFile, out var reason))
        {
            certificate = loaded;
            return true;
        }

        problem = $"{(failedFile == EchoServerCertificateFile.Key ? "--tls-key" : "--tls-cert")}: {reason}";
        return false;
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        return Persisted(certificate);
    }

    /// <summary>A copy whose key lives in a PKCS#12 import, as SslStream on Windows needs (harmless elsewhere).</summary>
    private static X509Certificate2 Persisted(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);

    private static int UsageError(CliConsole console, string message)
    {
        console.Error.WriteLine($"echokit serve: {message}");
        console.Error.WriteLine("Run 'echokit serve --help' for usage.");
        return Usage;
    }
}
