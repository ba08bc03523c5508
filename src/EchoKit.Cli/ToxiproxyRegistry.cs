using System.Net;
using System.Text.Json;

namespace EchoKit.Cli;

/// <summary>
/// The proxies of one <c>echokit proxy</c> run, by name, in the order they were created, with Toxiproxy's
/// operations on them. One lock for all: changes are rare and short, and a single order of changes is what a client
/// expects from a sequence of requests.
/// </summary>
internal sealed class ToxiproxyRegistry(ProxySettings settings) : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly List<ToxiproxyProxy> _proxies = [];

    /// <summary>The settings every proxy shares.</summary>
    public ProxySettings Settings => settings;

    /// <summary>Runs <paramref name="action"/> alone among the registry's operations.</summary>
    public async Task<T> LockedAsync<T>(Func<Task<T>> action, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await action().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Every proxy, in creation order; call under the lock.</summary>
    public IReadOnlyList<ToxiproxyProxy> Proxies => _proxies;

    /// <summary>The running proxies now, for the status line: a copy taken without the lock (a change racing it shows at the next tick).</summary>
    public IReadOnlyList<(string Name, FaultProxy Proxy)> Snapshot() =>
        [.. _proxies.ToArray().Where(p => p is not null).Select(p => (p.Name, p.Running)).Where(p => p.Running is not null).Select(p => (p.Name, p.Running!))];

    /// <summary>The proxy named <paramref name="name"/>.</summary>
    /// <exception cref="ToxiproxyError">404.</exception>
    public ToxiproxyProxy Get(string name) => Find(name) ?? throw ToxiproxyError.ProxyNotFound();

    /// <summary>Creates a proxy and starts it when <paramref name="enabled"/>; a failed start adds nothing (as in Toxiproxy).</summary>
    /// <exception cref="ToxiproxyError">409 for a name in use, 500 when the listen address cannot be bound.</exception>
    public async Task<ToxiproxyProxy> CreateAsync(ProxyDefinition definition, bool enabled, IEnumerable<ToxiproxyToxic> toxics, CancellationToken cancellationToken)
    {
        if (Find(definition.Name) is not null)
        {
            throw ToxiproxyError.ProxyAlreadyExists();
        }

        var proxy = new ToxiproxyProxy(definition.Name, definition.Listen, definition.UpstreamText, definition.Upstream, settings);
        foreach (var toxic in toxics)
        {
            proxy.AddToxic(toxic);
        }

        if (enabled)
        {
            await proxy.EnableAsync(cancellationToken).ConfigureAwait(false);
        }

        _proxies.Add(proxy);
        ProxyLog.Created(settings.Logger, proxy.Name);
        settings.Changed();
        return proxy;
    }

    /// <summary>
    /// <c>POST /proxies/{proxy}</c>: a new listen or upstream makes a new proxy in its place (the connections are
    /// dropped, the toxics kept); then <paramref name="enabled"/> starts or stops it.
    /// </summary>
    public async Task<ToxiproxyProxy> UpdateAsync(ToxiproxyProxy proxy, EndPoint listen, string upstreamText, EndPoint upstream, bool enabled, CancellationToken cancellationToken)
    {
        if (!ProxyAddresses.SameListen(listen, proxy.Listen) || upstreamText != proxy.UpstreamText)
        {
            await proxy.DisableAsync().ConfigureAwait(false);
            var replacement = new ToxiproxyProxy(proxy.Name, listen, upstreamText, upstream, settings);
            foreach (var toxic in proxy.Toxics)
            {
                replacement.AddToxic(toxic);
            }

            _proxies[_proxies.IndexOf(proxy)] = replacement;
            proxy = replacement;
        }

        if (enabled)
        {
            await proxy.EnableAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await proxy.DisableAsync().ConfigureAwait(false);
        }

        settings.Changed();
        return proxy;
    }

    /// <summary>Stops and removes the proxy.</summary>
    public async Task DeleteAsync(ToxiproxyProxy proxy)
    {
        _proxies.Remove(proxy);
        await proxy.DisposeAsync().ConfigureAwait(false);
        ProxyLog.Deleted(settings.Logger, proxy.Name);
        settings.Changed();
    }

    /// <summary><c>POST /reset</c>: every proxy enabled, every toxic removed.</summary>
    public async Task ResetAsync(CancellationToken cancellationToken)
    {
        foreach (var proxy in _proxies)
        {
            // Toxics first, so a proxy that comes back up starts clean.
            proxy.ClearToxics();
            await proxy.EnableAsync(cancellationToken).ConfigureAwait(false);
        }

        ProxyLog.Reset(settings.Logger);
    }

    /// <summary>
    /// <c>POST /populate</c>, one entry: a proxy of that name with the same listen and upstream is left as it is
    /// (enabled or not, with its toxics); else it is replaced by a new one without toxics, as in Toxiproxy.
    /// </summary>
    public async Task<ToxiproxyProxy> AddOrReplaceAsync(ProxyDefinition definition, bool enabled, CancellationToken cancellationToken)
    {
        if (Find(definition.Name) is { } existing)
        {
            if (ProxyAddresses.SameListen(definition.Listen, existing.Listen) && definition.UpstreamText == existing.UpstreamText)
            {
                return existing;
            }

            await DeleteAsync(existing).ConfigureAwait(false);
        }

        return await CreateAsync(definition, enabled, [], cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }

        _proxies.Clear();
        _lock.Release();
    }

    private ToxiproxyProxy? Find(string name) => _proxies.Find(p => p.Name == name);
}

/// <summary>A proxy as a client defines it: a name, where to listen and where to relay.</summary>
internal sealed record ProxyDefinition(string Name, EndPoint Listen, string UpstreamText, EndPoint Upstream)
{
    /// <summary>The listen address Toxiproxy's clients leave out least; used when a body has none.</summary>
    public const string DefaultListen = "127.0.0.1:0";

    /// <summary>Reads <c>{"name", "listen", "upstream"}</c>; <paramref name="position"/> names the entry of a <c>/populate</c> list in errors.</summary>
    /// <exception cref="ToxiproxyError">400: a field missing or of the wrong kind, an address that does not parse.</exception>
    public static ProxyDefinition Read(JsonElement body, int? position = null)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ToxiproxyError.BadBody(position is null ? "the body must be a JSON object" : $"proxy {position} must be a JSON object");
        }

        var at = position is null ? "" : $" at proxy {position}";
        var name = ToxiproxyToxic.OptionalString(body, "name");
        if (string.IsNullOrEmpty(name))
        {
            throw ToxiproxyError.MissingField("name" + at);
        }

        var upstreamText = ToxiproxyToxic.OptionalString(body, "upstream");
        if (string.IsNullOrEmpty(upstreamText))
        {
            throw ToxiproxyError.MissingField("upstream" + at);
        }

        var listen = ReadListen(ToxiproxyToxic.OptionalString(body, "listen") is { Length: > 0 } text ? text : DefaultListen);
        return new ProxyDefinition(name, listen, upstreamText, ReadUpstream(upstreamText));
    }

    /// <summary>A listen address, or a 400 saying what is wrong with it.</summary>
    public static EndPoint ReadListen(string text) =>
        ProxyAddresses.TryParseListen(text, out var listen, out var error) ? listen : throw ToxiproxyError.BadBody(error.ForKey("listen", text));

    /// <summary>An upstream address, or a 400 saying what is wrong with it.</summary>
    public static EndPoint ReadUpstream(string text) =>
        ProxyAddresses.TryParseUpstream(text, out var upstream, out var error) ? upstream : throw ToxiproxyError.BadBody(error.ForKey("upstream", text));
}
