using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace EchoKit.Cli;

/// <summary>The <c>echokit</c> command tree and its entry point, used by <c>Program</c> and by the tests.</summary>
internal static class EchoKitCommandLine
{
    /// <summary>Everything went as asked (bench: no error, every echoed byte verified; serve: stopped gracefully).</summary>
    public const int Success = 0;

    /// <summary>A runtime failure: a port in use, a refused connection, an error or a mismatch during a bench.</summary>
    public const int Failure = 1;

    /// <summary>A usage error: an unknown flag, a bad value, an invalid option or configuration file.</summary>
    public const int Usage = 2;

    /// <summary>A bench stopped by Ctrl+C before it finished (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    /// <summary>
    /// Builds the command tree; the commands write to <paramref name="console"/>. The root is a plain command named
    /// <c>echokit</c> (a <see cref="RootCommand"/> would take the name of the executable, EchoKit.Cli).
    /// </summary>
    public static Command Build(CliConsole console)
    {
        var serve = ServeCommand.Create(console);
        var bench = BenchCommand.Create(console);
        var proxy = ProxyCommand.Create(console);
        var help = new HelpOption { Recursive = true };
        var root = new Command("echokit", "Run an RFC 862 echo server (serve), load any echo server and verify every echoed byte (bench), or put faults between a client and its server (proxy).")
        {
            help,
            new VersionOption(),
            serve,
            bench,
            proxy,
        };
        help.Action = new HelpWithExamplesAction((HelpAction)help.Action!, new Dictionary<Command, string[]>
        {
            [root] = ["echokit serve --tcp 7007", "echokit bench 127.0.0.1:7007 --duration 10", "echokit proxy --listen 127.0.0.1:16379 --upstream 127.0.0.1:6379 --fault latency:delay=50ms", "echokit serve --help", "echokit bench --help", "echokit proxy --help"],
            [serve] = ServeCommand.Examples,
            [bench] = BenchCommand.Examples,
            [proxy] = ProxyCommand.Examples,
        });
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command. A parse error (unknown flag, bad value, missing argument)
    /// is printed to <see cref="CliConsole.Error"/> and gives <see cref="Usage"/>, not System.CommandLine's default 1.
    /// </summary>
    public static async Task<int> InvokeAsync(string[] args, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        var root = Build(console);
        var parseResult = root.Parse(args);
        if (parseResult.Action is ParseErrorAction || (parseResult.Errors.Count > 0 && parseResult.Action is null))
        {
            foreach (var error in parseResult.Errors)
            {
                await console.Error.WriteLineAsync($"echokit: {error.Message}").ConfigureAwait(false);
            }

            var command = parseResult.CommandResult.Command;
            await console.Error.WriteLineAsync(SeeHelp(command == root ? "echokit" : $"echokit {command.Name}")).ConfigureAwait(false);
            return Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = console.Output,
            Error = console.Error,
            ProcessTerminationTimeout = null,   // Program handles SIGINT and SIGTERM (graceful, then abort).
        };
        return await parseResult.InvokeAsync(configuration, console.Stop).ConfigureAwait(false);
    }

    /// <summary>
    /// A usage error found by <paramref name="command"/> itself, after parsing (flags that do not go together, an
    /// invalid option): reported as a parse error is, and gives <see cref="Usage"/>.
    /// </summary>
    public static async Task<int> UsageErrorAsync(CliConsole console, string command, string message)
    {
        await console.Error.WriteLineAsync($"echokit {command}: {message}").ConfigureAwait(false);
        await console.Error.WriteLineAsync(SeeHelp($"echokit {command}")).ConfigureAwait(false);
        return Usage;
    }

    /// <summary>The line after a usage error that points to the help of <paramref name="commandPath"/>.</summary>
    private static string SeeHelp(string commandPath) => $"Run '{commandPath} --help' for usage.";

    /// <summary>The standard help, then the command's examples.</summary>
    private sealed class HelpWithExamplesAction(HelpAction help, Dictionary<Command, string[]> examples) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var result = help.Invoke(parseResult);
            if (examples.TryGetValue(parseResult.CommandResult.Command, out var lines))
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine("Examples:");
                foreach (var line in lines)
                {
                    output.WriteLine("  " + line);
                }

                output.WriteLine();
            }

            return result;
        }
    }
}
