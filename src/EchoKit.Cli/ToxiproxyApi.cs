using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit proxy --admin ENDPOINT</c>: Toxiproxy 2.x's HTTP API (Kestrel, minimal APIs) over the run's
/// <see cref="ToxiproxyRegistry"/>, so an unmodified Toxiproxy client creates proxies and toxics here (docs/PROXY.md).
/// Plain HTTP without authentication, as Toxiproxy's: keep it on loopback. The routes are in <c>ToxiproxyApi.Routes.cs</c>.
/// </summary>
internal sealed partial class ToxiproxyApi : IAsyncDisposable
{
    private readonly ToxiproxyRegistry _registry;

    // Set by StartAsync before the object is handed out: the routes are instance methods, mapped while the host is built.
    private AdminWebHost _host = null!;

    private ToxiproxyApi(ToxiproxyRegistry registry)
    {
        _registry = registry;
    }

    /// <summary>The endpoint bound, with the real port when port 0 was asked for.</summary>
    public IPEndPoint EndPoint => _host.EndPoint;

    /// <summary>Binds <paramref name="endPoint"/> and starts answering; Kestrel's warnings go to <paramref name="logProvider"/>.</summary>
    /// <exception cref="IOException">The endpoint could not be bound.</exception>
    public static async Task<ToxiproxyApi> StartAsync(
        IPEndPoint endPoint, ToxiproxyRegistry registry, ILoggerProvider? logProvider, LogLevel logLevel, CancellationToken cancellationToken)
    {
        var api = new ToxiproxyApi(registry);
        api._host = await AdminWebHost.StartAsync(endPoint, logProvider, logLevel, api.Map, cancellationToken).ConfigureAwait(false);
        ProxyLog.ApiListening(registry.Settings.Logger, api.EndPoint);
        return api;
    }

    /// <summary>Stops answering: requests in flight get up to two seconds.</summary>
    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
