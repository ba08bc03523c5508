using System.CommandLine;
using EchoKit.Shared;
using Microsoft.Extensions.Logging;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>
/// What <c>serve</c> and <c>proxy</c> share as commands that run in the foreground until Ctrl+C or SIGTERM: the
/// <c>--status-interval</c>, <c>--quiet</c> and <c>--log-level</c> flags, the logging they set up, and the wait for
/// the first signal with the status line drawn. Only the help texts differ: what is logged, what <c>--quiet</c> keeps.
/// </summary>
internal sealed class ForegroundRun(string quietHelp, string logLevelHelp)
{
    public Option<TimeSpan> StatusIntervalFlag { get; } = NewOption<TimeSpan>("--status-interval", "time", "How often the status line is updated; 0 turns it off. [default: 1s on a terminal, 10s when the output is redirected]", ValueGrammar.TryParseDuration);

    public Option<bool> QuietFlag { get; } = new("--quiet", "-q") { Description = quietHelp };

    public Option<LogLevel> LogLevelFlag { get; } = new("--log-level")
    {
        HelpName = "level",
        Description = logLevelHelp,
        DefaultValueFactory = _ => LogLevel.Warning,
    };

    /// <summary>The three flags, in the order help lists them (after each command's own).</summary>
    public IEnumerable<Option> Flags => [StatusIntervalFlag, QuietFlag, LogLevelFlag];

    /// <summary>
    /// A logger factory for <c>--log-level</c>'s <paramref name="logLevel"/>: messages written as lines by
    /// <paramref name="logProvider"/> (which the admin API's Kestrel shares), nothing at all for <c>None</c>.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(LogLevel logLevel, CliLoggerProvider logProvider) =>
        LoggerFactory.Create(logging =>
        {
            logging.SetMinimumLevel(logLevel);
            if (logLevel != LogLevel.None)
            {
                logging.AddProvider(logProvider);
            }
        });

    /// <summary>
    /// Says how to stop, runs <paramref name="showStatus"/> (given the interval; not with <c>--quiet</c> or an interval
    /// of 0) until the first Ctrl+C or SIGTERM, then ends the status line so what the command writes next starts clean.
    /// </summary>
    public async Task UntilStoppedAsync(ParseResult parseResult, CliConsole console, LiveLine live, Func<TimeSpan, Task> showStatus)
    {
        await console.Output.WriteLineAsync(console.OutputIsTerminal ? "Press Ctrl+C to stop." : "Send SIGINT or SIGTERM to stop.").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);

        var interval = ValueOr(parseResult, StatusIntervalFlag, StatusLine.DefaultInterval(console.OutputIsTerminal));
        var status = parseResult.GetValue(QuietFlag) || interval == TimeSpan.Zero ? Task.CompletedTask : showStatus(interval);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, console.Stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: the command stops (serve gracefully, after --drain-delay).
        }

        await status.ConfigureAwait(false);
        live.Finish();
    }
}
