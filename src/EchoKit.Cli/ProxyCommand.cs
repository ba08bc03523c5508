using System.CommandLine;
using System.Net;
using EchoKit.Shared;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit proxy</c>: a fault proxy in front of one upstream (<c>--listen</c>, <c>--upstream</c>, <c>--fault</c>),
/// and with <c>--admin</c> Toxiproxy's HTTP API to create and change proxies while it runs; with <c>--admin</c>
/// alone it starts empty, as a Toxiproxy server does (docs/PROXY.md). Running is in <c>ProxyCommand.Running.cs</c>;
/// the flags and the wait it shares with <c>serve</c> are <see cref="ForegroundRun"/>.
/// </summary>
internal sealed partial class ProxyCommand
{
    /// <summary>The name of the proxy that <c>--listen</c> makes, as the API shows it (<c>/proxies/proxy</c>) unless <c>--name</c> says otherwise.</summary>
    public const string DefaultName = "proxy";

    /// <summary>Shown after <c>echokit proxy --help</c>.</summary>
    public static string[] Examples { get; } =
    [
        "echokit proxy --listen 127.0.0.1:16379 --upstream 127.0.0.1:6379 --fault latency:delay=50ms,stream=upstream",
        "echokit proxy --listen 127.0.0.1:15432 --upstream db.internal:5432 --fault reset:after=2s,toxicity=0.1 --seed 42",
        "echokit proxy --admin 127.0.0.1:8474             # a Toxiproxy-compatible server: proxies made over HTTP",
        "echokit proxy --listen 127.0.0.1:16379 --upstream 127.0.0.1:6379 --admin 8474",
        "echokit proxy --config proxies.json --admin 8474    # several named proxies, Toxiproxy's config format",
    ];

    private readonly Option<EndPoint> _listen = NewOption<EndPoint>("--listen", "endpoint", "Where the proxy listens: 127.0.0.1:16379, [::1]:16379, localhost:0 (port 0 picks one) or unix:/path. Needs --upstream.", (string text, out EndPoint value, out ValueError error) => ProxyAddresses.TryParseListen(text, out value!, out error));

    private readonly Option<EndPoint> _upstream = NewOption<EndPoint>("--upstream", "address", "The server each connection is relayed to: HOST:PORT (a host name is resolved for each connection) or unix:/path.", (string text, out EndPoint value, out ValueError error) => ProxyAddresses.TryParseUpstream(text, out value!, out error));

    private readonly Option<string> _name = NewTextOption("--name", "name", $"The proxy's name in the API (/proxies/NAME). [default: {DefaultName}]");

    private readonly Option<List<EchoFault>> _fault = new("--fault")
    {
        HelpName = "rule",
        Description = "A fault rule (repeatable, or several separated by ';'), such as latency:delay=50ms,stream=upstream; stream=upstream acts on client-to-server bytes, downstream (the default) on server-to-client ones. See docs/FAULTS.md.",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseFaults,
    };

    private readonly Option<int?> _seed = NewOption<int?>("--seed", "n", "The seed of the faults' random draws (toxicity, jitter, sizes), so a run can be replayed. [default: one picked per proxy]", ValueGrammar.Optional<int>(ValueGrammar.TryParseInt32));

    private readonly Option<TimeSpan> _connectTimeout = NewOption<TimeSpan>("--connect-timeout", "time", "How long connecting to the upstream may take before the client is closed. [default: 5s]", ValueGrammar.TryParseDuration);

    private readonly Option<IPEndPoint> _admin = NewOption<IPEndPoint>("--admin", "endpoint", "Serve Toxiproxy's HTTP API here (127.0.0.1:8474, or a port alone for loopback; port 0 picks one): create, change and delete proxies and toxics with any Toxiproxy client, GET /metrics. Plain HTTP without authentication: keep it on loopback.", AdminEndpoint.TryParseEndPoint);

    private readonly ForegroundRun _run = new(
        quietHelp: "No status line; only the listening endpoints and errors.",
        logLevelHelp: "The log messages to show on standard error: Trace, Debug, Information, Warning, Error, Critical or None.");

    private ProxyCommand()
    {
    }

    public static Command Create(CliConsole console)
    {
        var options = new ProxyCommand();
        var command = new Command("proxy", """
            Run a TCP fault proxy: each connection to --listen is relayed to --upstream through the --fault rules, per
            direction. With --admin, Toxiproxy's HTTP API creates and changes proxies while it runs (alone, it starts
            with none). Runs until Ctrl+C or SIGTERM, which close every connection.
            """)
        {
            options._listen, options._upstream, options._name, options._fault, options._seed, options._connectTimeout,
            options._admin, options._config,
        };
        foreach (var flag in options._run.Flags)
        {
            command.Options.Add(flag);
        }

        command.SetAction((parseResult, _) => options.RunAsync(parseResult, console));
        return command;
    }

    /// <summary>The flags that do not go together, in words; null when they do.</summary>
    private string? FindUsageProblem(ParseResult parseResult)
    {
        var listen = parseResult.IsGiven(_listen);
        if (!listen && !parseResult.IsGiven(_admin) && !parseResult.IsGiven(_config))
        {
            return "give --listen and --upstream for one proxy, --config for the proxies of a file, or --admin for Toxiproxy's API (or several)";
        }

        if (listen != parseResult.IsGiven(_upstream))
        {
            return listen ? "--listen needs --upstream: the server to relay to" : "--upstream needs --listen: where the proxy listens";
        }

        if (!listen && (parseResult.IsGiven(_fault) || parseResult.IsGiven(_name)))
        {
            return "--fault and --name apply to the proxy of --listen; without it, add toxics through the API";
        }

        return parseResult.GetValue(_connectTimeout) is var timeout && parseResult.IsGiven(_connectTimeout) && timeout <= TimeSpan.Zero
            ? "--connect-timeout must be more than zero"
            : null;
    }

    private static List<EchoFault> ParseFaults(System.CommandLine.Parsing.ArgumentResult result)
    {
        var rules = new List<EchoFault>();
        foreach (var text in result.Tokens.SelectMany(t => t.Value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (EchoFault.TryParse(text, out var rule, out var error))
            {
                rules.Add(rule);
            }
            else
            {
                result.AddError($"Invalid value '{text}' for --fault: {error}");
            }
        }

        return rules;
    }
}
