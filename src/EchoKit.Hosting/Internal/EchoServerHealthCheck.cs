using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// The health of one echo server, as <see cref="EchoServerHealthCheckBuilderExtensions.AddEchoServer"/> documents.
/// Made once per registration (the health check service keeps it), so it can remember the last accept failure.
/// </summary>
internal sealed class EchoServerHealthCheck : IHealthCheck
{
    /// <summary>How long an accept failure keeps the server Degraded: the accept loop retries within a second, so a lasting problem keeps it there.</summary>
    private static readonly TimeSpan FaultMemory = TimeSpan.FromSeconds(30);

    private readonly EchoServer _server;
    private readonly int _maxConnections;
    private readonly Func<bool> _draining;
    private long _lastFault = long.MinValue;
    private string? _lastFaultText;

    public EchoServerHealthCheck(EchoServer server, int maxConnections, Func<bool> draining)
    {
        _server = server;
        _maxConnections = maxConnections;
        _draining = draining;
        server.ServerFaulted += (_, e) =>
        {
            _lastFaultText = $"accepting on {e.EndPoint} failed: {e.Exception.Message}";
            Volatile.Write(ref _lastFault, Stopwatch.GetTimestamp());
        };
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var statistics = _server.GetStatistics();
        var data = new Dictionary<string, object>
        {
            ["activeConnections"] = statistics.ActiveConnections,
            ["maxConnections"] = _maxConnections,
            ["acceptedConnections"] = statistics.AcceptedConnections,
            ["rejectedConnections"] = statistics.RejectedConnections,
            ["bytesReceived"] = statistics.BytesReceived,
            ["bytesSent"] = statistics.BytesSent,
            ["datagramsReceived"] = statistics.DatagramsReceived,
            ["datagramsEchoed"] = statistics.DatagramsEchoed,
        };
        if (_draining())
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "The echo server is draining: the host is stopping; it still serves for its DrainDelay.", data: data));
        }

        if (!_server.IsListening)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "The echo server is not listening (not started yet, or stopped).", data: data));
        }

        var lastFault = Volatile.Read(ref _lastFault);
        if (lastFault != long.MinValue && Stopwatch.GetElapsedTime(lastFault) < FaultMemory)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"The echo server listens, but {_lastFaultText}.", data: data));
        }

        if (statistics.ActiveConnections * 10 > _maxConnections * 9L)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"{statistics.ActiveConnections} of at most {_maxConnections} connections are served (over 90 %).", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"Listening; {statistics.ActiveConnections} connections.", data));
    }
}
