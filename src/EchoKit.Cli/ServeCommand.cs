using System.CommandLine;
using System.Net;
using EchoKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static EchoKit.Cli.EchoKitCommandLine;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit serve</c>: builds <see cref="EchoServerOptions"/> from a JSON file (bound by EchoKit.Hosting, the keys
/// of its configuration section) and flags (applied after the file), runs the server with a live status line, and
/// stops it gracefully on Ctrl+C or SIGTERM. Its parts: the flags (<c>ServeCommand.Flags.cs</c>), <c>--config</c>
/// (<c>.Config.cs</c>), the TLS certificate (<c>.Certificate.cs</c>), <c>--admin</c> (<c>.Admin.cs</c>), serving and
/// draining (<c>.Serving.cs</c>); the status line is <see cref="StatusLine"/>, the flags and the wait it shares with
/// <c>proxy</c> are <see cref="ForegroundRun"/>.
/// </summary>
internal sealed partial class ServeCommand
{
    /// <summary>The endpoint used when neither flags nor the configuration file name one.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 7007);

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
        foreach (var option in options.FlagsInHelpOrder())
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, _) => options.RunAsync(parseResult, console));
        return command;
    }

    /// <summary>Checks what the flags and the file ask for, builds the server as EchoKit.Hosting does, then serves.</summary>
    private async Task<int> RunAsync(ParseResult parseResult, CliConsole console)
    {
        var live = new LiveLine(console.Output, console.OutputIsTerminal, console.Width, console.Error);
        if (ReadConfiguration(parseResult, out var configuration) is { } configurationProblem)
        {
            return await UsageErrorAsync(console, "serve", configurationProblem).ConfigureAwait(false);
        }

        if (ReadCertificate(parseResult, out var certificate) is { } certificateProblem)
        {
            return await UsageErrorAsync(console, "serve", certificateProblem).ConfigureAwait(false);
        }

        var logLevel = parseResult.GetValue(_run.LogLevelFlag);
        var logProvider = new CliLoggerProvider(live);
        using var loggerFactory = ForegroundRun.CreateLoggerFactory(logLevel, logProvider);

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
                return await UsageErrorAsync(console, "serve", "invalid options:" + string.Concat(ex.Failures.Select(f => Environment.NewLine + "  " + f))).ConfigureAwait(false);
            }
            catch (ArgumentException ex)
            {
                return await UsageErrorAsync(console, "serve", "invalid options: " + ex.Message).ConfigureAwait(false);
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
}
