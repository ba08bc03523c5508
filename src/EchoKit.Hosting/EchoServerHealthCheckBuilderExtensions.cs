using EchoKit.Hosting.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting;

/// <summary>Adds the health of an echo server (added with <c>AddEchoServer</c>) to ASP.NET Core / generic host health checks.</summary>
public static class EchoServerHealthCheckBuilderExtensions
{
    /// <summary>
    /// Adds a check of the echo server called <paramref name="serverName"/> (the unnamed one by default): Healthy while
    /// it listens, Degraded above 90 % of <see cref="EchoServerOptions.MaxConnections"/> or within 30 seconds of an
    /// accept failure (<see cref="EchoServer.ServerFaulted"/>), Unhealthy (or <paramref name="failureStatus"/>) before it
    /// listens, while it drains (<see cref="EchoServerDrainOptions.DrainDelay"/>) and once it stops. The result's data
    /// holds the server's statistics.
    /// </summary>
    /// <param name="builder">The health checks builder, from <c>services.AddHealthChecks()</c>.</param>
    /// <param name="serverName">The name given to <c>AddEchoServer</c>; empty for the unnamed server.</param>
    /// <param name="name">The check's name; defaults to <c>echokit</c> (or <c>echokit-NAME</c> for a named server).</param>
    /// <param name="failureStatus">What a server that does not listen reports; defaults to <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready").</param>
    /// <returns>The builder, for chaining.</returns>
    public static IHealthChecksBuilder AddEchoServer(
        this IHealthChecksBuilder builder, string serverName = "", string? name = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(serverName);
        var checkName = name ?? (serverName.Length == 0 ? "echokit" : "echokit-" + serverName);
        return builder.Add(new HealthCheckRegistration(
            checkName,
            services => new EchoServerHealthCheck(
                HostedNameRegistry.Resolve<EchoServer>(services, serverName),
                services.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(serverName).MaxConnections,
                () => services.GetRequiredService<EchoServerRegistry>().IsDraining(serverName)),
            failureStatus,
            tags));
    }
}
