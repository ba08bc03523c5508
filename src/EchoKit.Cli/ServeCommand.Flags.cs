using System.CommandLine;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using EchoKit.Shared;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>The flags of <c>echokit serve</c>: how each is named, explained and read, and how they set the options.</summary>
internal sealed partial class ServeCommand
{
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

    private readonly ForegroundRun _run = new(
        quietHelp: "No status line; only the listening endpoints, errors and the final summary.",
        logLevelHelp: "The server's log messages to show on standard error: Trace, Debug, Information, Warning, Error, Critical or None.");

    /// <summary>Every flag in the order help lists them: where to listen, where the options come from, then the limits and tuning.</summary>
    private IEnumerable<Option> FlagsInHelpOrder()
    {
        var endPointFlags = _optionFlags.Where(f => f.Description is EndPointListOption).Select(f => f.Flag);
        var tuningFlags = _optionFlags.Where(f => f.Description is not EndPointListOption).Select(f => f.Flag);
        return
        [
            .. endPointFlags, _unix, _config, _configSection,
            _tlsCert, _tlsKey, _tlsCertPassword, _tlsSelfSigned,
            .. tuningFlags, _admin, _drainDelay, .. _run.Flags,
        ];
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
}
