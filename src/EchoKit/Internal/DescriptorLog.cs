using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// The descriptor limit's log messages, in the ranges of <see cref="EchoServerLog"/>: 6 (server lifecycle) and
/// 46-47 (faults). The rejection warning is rate-limited through a <see cref="LogThrottle"/>: a client flood at the
/// limit must not become a log flood.
/// </summary>
internal static partial class DescriptorLog
{
    [LoggerMessage(6, LogLevel.Warning, "MaxConnections {MaxConnections} cannot fit under the file descriptor limit: RLIMIT_NOFILE is {SoftLimit}, {Open} descriptors are open and {Margin} are kept for the runtime, so at most {Capacity} connections are served at once and the rest are closed at once. Raise the limit (ulimit -n, systemd LimitNOFILE=) or lower MaxConnections.")]
    public static partial void LimitBelowMaxConnections(ILogger logger, int maxConnections, long softLimit, int open, int margin, long capacity);

    [LoggerMessage(46, LogLevel.Warning, "Connection on {LocalEndPoint} closed at once: the process is at its file descriptor limit (RLIMIT_NOFILE {SoftLimit}, {Margin} kept for the runtime); {Suppressed} more since the last such warning.")]
    private static partial void LogRejected(ILogger logger, EndPoint? localEndPoint, long softLimit, int margin, long suppressed);

    [LoggerMessage(47, LogLevel.Warning, "The reserve file descriptor could not be re-opened; until it is, connections that find no descriptor wait in the backlog.")]
    public static partial void ReserveLost(ILogger logger);

    /// <summary>Logs event 46 (a connection closed for the descriptor limit) at most once per <see cref="LogThrottle.Interval"/>, counting the rest.</summary>
    public static void Rejected(ILogger logger, LogThrottle throttle, EndPoint? localEndPoint, in DescriptorBudget budget)
    {
        if (logger.IsEnabled(LogLevel.Warning) && throttle.TryEnter(Stopwatch.GetTimestamp(), out var suppressed))
        {
            LogRejected(logger, localEndPoint, budget.SoftLimit, budget.Margin, suppressed);
        }
    }
}
