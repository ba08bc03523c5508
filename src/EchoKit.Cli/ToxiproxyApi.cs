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
/// <c>echokit proxy --admin ENDPOINT</c>: Toxiproxy 2.x's HTTP API (Kestrel, minimal APIs) over the run's
/// <see cref="ToxiproxyRegistry"/>, so an unmodified Toxiproxy client creates proxies and toxics here (docs/PROXY.md).
/// Plain HTTP without authentication, as Toxiproxy's: keep it on loopback. The routes are in <c>ToxiproxyApi.Routes.cs</c>.
/// </summary>
internal sealed partial class ToxiproxyApi : IAsyncDisposable
{
    /// <summary>The largest request body read: a /populate list of many proxies is still a few kilobytes.</summary>
    private const long MaxBodyBytes = 1 << 20;

    /// <summary>The meter of the proxies (<c>echokit.proxy.*</c>), as the library names it.</summary>
    private const string MeterName = "EchoKit";

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;
    private readonly ToxiproxyRegistry _registry;

    private ToxiproxyApi(WebApplication app, ToxiproxyRegistry registry)
    {
        _app = app;
        _registry = registry;
    }

    /// <summary>The endpoint bound, with the real port when port 0 was asked for.</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>Binds <paramref name="endPoint"/> and starts answering; Kestrel's warnings go to <paramref name="logProvider"/>.</summary>
    /// <exception cref="IOException">The endpoint could not be bound.</exception>
    public static async Task<ToxiproxyApi> StartAsync(
        IPEndPoint endPoint, ToxiproxyRegistry registry, ILoggerProvider? logProvider, LogLevel logLevel, CancellationToken cancellationToken)
    {
        // As the serve admin endpoint: the empty builder binds nothing but this endpoint, whatever the environment says.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "echokit" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endPoint);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("echokit"))
            .WithMetrics(metrics => metrics.AddMeter(MeterName).AddPrometheusExporter());
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Logging.ClearProviders();
        if (logProvider is not null && logLevel != LogLevel.None)
        {
            builder.Logging.AddProvider(logProvider);
            builder.Logging.SetMinimumLevel(logLevel > LogLevel.Warning ? logLevel : LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        }

        var app = builder.Build();
        var api = new ToxiproxyApi(app, registry);
        api.Map(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        api.EndPoint = address is not null && Uri.TryCreate(address, UriKind.Absolute, out var uri)
            ? new IPEndPoint(endPoint.Address, uri.Port)
            : endPoint;
        ProxyLog.ApiListening(registry.Settings.Logger, api.EndPoint);
        return api;
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
                // Past the timeout: the dispose below closes what is left.
            }
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Leaves SIGINT and SIGTERM to <c>Program</c>, which stops the whole run.</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
