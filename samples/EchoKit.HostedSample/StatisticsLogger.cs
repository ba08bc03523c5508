using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EchoKit.HostedSample;

/// <summary>Logs the echo server's counters every "Sample:StatisticsInterval", when they have changed.</summary>
/// <remarks>The <see cref="EchoServer"/> registered by <c>AddEchoServer</c> is injected like any other service.</remarks>
internal sealed partial class StatisticsLogger(EchoServer server, IConfiguration configuration, ILogger<StatisticsLogger> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.Parse(configuration["Sample:StatisticsInterval"] ?? "00:00:10", CultureInfo.InvariantCulture);
        using var timer = new PeriodicTimer(interval);
        var previous = server.GetStatistics();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = server.GetStatistics();
                if (now != previous)
                {
                    LogStatistics(logger, now.ActiveConnections, now.AcceptedConnections, now.RejectedConnections,
                        (now.BytesSent - previous.BytesSent) / interval.TotalSeconds / 1024, now.BytesSent);
                    previous = now;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The host is stopping.
        }
    }

    [LoggerMessage(1, LogLevel.Information,
        "{Active} active, {Accepted} accepted, {Rejected} rejected connections; echoing {KiBPerSecond:F1} KiB/s, {BytesSent} bytes in all")]
    private static partial void LogStatistics(ILogger logger, long active, long accepted, long rejected, double kiBPerSecond, long bytesSent);
}
