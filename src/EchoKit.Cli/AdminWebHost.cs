using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace EchoKit.Cli;

/// <summary>
/// The Kestrel host under both HTTP APIs of the tool, <c>serve --admin</c> (<see cref="AdminEndpoint"/>) and
/// <c>proxy --admin</c> (<see cref="ToxiproxyApi"/>): one endpoint bound, the EchoKit meter ready for a Prometheus
/// scrape, Kestrel's warnings on the run's log, and a stop that does not wait forever. Each API maps its own routes.
/// </summary>
internal sealed class AdminWebHost : IAsyncDisposable
{
    /// <summary>The largest request body read: a rule list or a /populate list is a few kilobytes at most, so anything near this is a mistake.</summary>
    private const long MaxBodyBytes = 1 << 20;

    /// <summary>The library's meter, as <c>EchoKit.Internal.EchoServerMetrics</c> names it: the server's <c>echokit.*</c> and the proxies' <c>echokit.proxy.*</c>.</summary>
    private const string MeterName = "EchoKit";

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;

    private AdminWebHost(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    /// <summary>The endpoint bound, with the real port when port 0 was asked for.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>
    /// Binds <paramref name="endPoint"/>, lets <paramref name="map"/> add the routes (the Prometheus exporter is
    /// registered, <c>MapPrometheusScrapingEndpoint</c> puts it on a path) and starts answering. Kestrel's own messages
    /// go to <paramref name="logProvider"/> at Warning and above (or at <paramref name="logLevel"/> when that is higher).
    /// </summary>
    /// <exception cref="IOException">The endpoint could not be bound (Kestrel reports a port in use this way).</exception>
    public static async Task<AdminWebHost> StartAsync(
        IPEndPoint endPoint, ILoggerProvider? logProvider, LogLevel logLevel, Action<WebApplication> map, CancellationToken cancellationToken)
    {
        // The empty builder reads no appsettings.json, environment variables or command line: nothing but the one
        // endpoint given here is bound, whatever ASPNETCORE_URLS or a Kestrel section in the working directory say.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "echokit" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endPoint);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
        });
        builder.Services.AddRoutingCore();

        // GET /metrics: the library's meter in Prometheus text. The listener finds the meter by name whichever
        // factory made it, so neither the server nor the proxies need a change.
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("echokit"))
            .WithMetrics(metrics => metrics.AddMeter(MeterName).AddPrometheusExporter());

        // Program owns SIGINT and SIGTERM (graceful stop, drain, abort); the host's console lifetime would stop the
        // API at the first signal, in the middle of serve's --drain-delay.
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Logging.ClearProviders();
        if (logProvider is not null && logLevel != LogLevel.None)
        {
            builder.Logging.AddProvider(logProvider);
            builder.Logging.SetMinimumLevel(logLevel > LogLevel.Warning ? logLevel : LogLevel.Warning);

            // The host logs a failed start (a port in use) with its whole stack; the command reports it in one line.
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        }

        var app = builder.Build();
        try
        {
            map(app);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        return new AdminWebHost(app, address is not null && Uri.TryCreate(address, UriKind.Absolute, out var uri)
            ? new IPEndPoint(endPoint.Address, uri.Port)
            : endPoint);
    }

    /// <summary>Stops answering: requests in flight get up to two seconds.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(StopTimeout))
        {
            try
            {
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Past the timeout: the connections left are closed by the dispose below.
            }
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A host lifetime that leaves the process's signals alone (see <see cref="StartAsync"/>).</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
