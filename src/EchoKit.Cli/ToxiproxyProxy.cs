using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// One named proxy of <c>echokit proxy</c>: its Toxiproxy fields (listen, upstream, enabled), its toxics in order,
/// and while enabled the <see cref="FaultProxy"/> that does the work. A <see cref="FaultProxy"/> cannot be restarted,
/// so enabling makes a new one on the endpoint the last one was bound to, with the same toxics. Not thread-safe: the
/// <see cref="ToxiproxyRegistry"/> calls it under its lock.
/// </summary>
internal sealed class ToxiproxyProxy(string name, EndPoint listen, string upstreamText, EndPoint upstream, ProxySettings settings) : IAsyncDisposable
{
    private readonly List<ToxiproxyToxic> _toxics = [];
    private FaultProxy? _running;

    /// <summary>The proxy's name, the key of <c>/proxies/{proxy}</c>.</summary>
    public string Name { get; } = name;

    /// <summary>Where it listens: as asked until first bound, then the real endpoint (port 0 resolved), kept while disabled.</summary>
    public EndPoint Listen { get; private set; } = listen;

    /// <summary>The upstream as the client wrote it (Toxiproxy prints it back unchanged).</summary>
    public string UpstreamText { get; } = upstreamText;

    /// <summary>The upstream as an endpoint.</summary>
    public EndPoint Upstream { get; } = upstream;

    /// <summary>Whether a <see cref="FaultProxy"/> is listening.</summary>
    public bool Enabled => _running is not null;

    /// <summary>The running proxy, for the status line; <see langword="null"/> while disabled.</summary>
    public FaultProxy? Running => _running;

    /// <summary>The toxics, in the order they were added.</summary>
    public IReadOnlyList<ToxiproxyToxic> Toxics => _toxics;

    /// <summary>Starts listening, unless already; a failure to bind leaves it disabled.</summary>
    /// <exception cref="ToxiproxyError">A 500 with the socket's message (Toxiproxy's answer to a listen it cannot bind).</exception>
    public async Task EnableAsync(CancellationToken cancellationToken)
    {
        if (_running is not null)
        {
            return;
        }

        var options = new FaultProxyOptions { Upstream = Upstream, ConnectTimeout = settings.ConnectTimeout, FaultSeed = settings.Seed };
        options.EndPoints.Add(Listen);
        foreach (var rule in Rules())
        {
            options.Faults.Add(rule);
        }

        var proxy = new FaultProxy(options, settings.LoggerFactory);
        try
        {
            await proxy.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
            throw ToxiproxyError.CannotListen($"{Name}: cannot listen on {ProxyAddresses.Format(Listen)}: {ex.Message}");
        }

        _running = proxy;
        Listen = proxy.EndPoints[0];
        ProxyLog.Enabled(settings.Logger, Name, ProxyAddresses.Format(Listen), UpstreamText);
    }

    /// <summary>Stops listening and closes every connection, both sides; the settings and toxics stay.</summary>
    public async Task DisableAsync()
    {
        if (_running is { } proxy)
        {
            _running = null;
            await proxy.DisposeAsync().ConfigureAwait(false);
            ProxyLog.Disabled(settings.Logger, Name);
        }
    }

    /// <summary>The toxic named <paramref name="toxic"/>.</summary>
    /// <exception cref="ToxiproxyError">404: no such toxic.</exception>
    public ToxiproxyToxic GetToxic(string toxic) =>
        _toxics.Find(t => t.Name == toxic) ?? throw ToxiproxyError.ToxicNotFound();

    /// <summary>Adds <paramref name="toxic"/> after the others and puts the rules in force.</summary>
    /// <exception cref="ToxiproxyError">409: a toxic of that name exists.</exception>
    public void AddToxic(ToxiproxyToxic toxic)
    {
        if (_toxics.Exists(t => t.Name == toxic.Name))
        {
            throw ToxiproxyError.ToxicAlreadyExists();
        }

        _toxics.Add(toxic);
        ToxicsChanged();
    }

    /// <summary>Replaces the toxic of the same name, in its place.</summary>
    public void ReplaceToxic(ToxiproxyToxic toxic)
    {
        _toxics[_toxics.FindIndex(t => t.Name == toxic.Name)] = toxic;
        ToxicsChanged();
    }

    /// <summary>Removes the toxic named <paramref name="toxic"/>.</summary>
    /// <exception cref="ToxiproxyError">404: no such toxic.</exception>
    public void RemoveToxic(string toxic)
    {
        _toxics.Remove(GetToxic(toxic));
        ToxicsChanged();
    }

    /// <summary>Removes every toxic.</summary>
    public void ClearToxics()
    {
        _toxics.Clear();
        ToxicsChanged();
    }

    /// <summary>The proxy as Toxiproxy prints it: name, listen, upstream, enabled, toxics.</summary>
    public JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["listen"] = ProxyAddresses.Format(Listen),
        ["upstream"] = UpstreamText,
        ["enabled"] = Enabled,
        ["toxics"] = ToxicsJson(),
    };

    /// <summary>The toxics as Toxiproxy's <c>GET /proxies/{proxy}/toxics</c> prints them.</summary>
    public JsonArray ToxicsJson() => new([.. _toxics.Select(t => (JsonNode)t.ToJson())]);

    public ValueTask DisposeAsync() => new(DisableAsync());

    /// <summary>The rules of the toxics that do something, in their order.</summary>
    private IEnumerable<EchoFault> Rules() => _toxics.Select(t => t.Rule).OfType<EchoFault>();

    private void ToxicsChanged()
    {
        // The whole list at once: a live connection's relays see the new rules at their next message.
        _running?.Faults.Replace(Rules());
        ProxyLog.ToxicsChanged(settings.Logger, Name, _toxics.Count);
        settings.Changed();
    }
}

/// <summary>What every proxy of one <c>echokit proxy</c> run shares.</summary>
/// <param name="Seed">The fault seed of every <see cref="FaultProxy"/> (<c>--seed</c>), or null for one of its own each.</param>
/// <param name="ConnectTimeout">How long connecting upstream may take (<c>--connect-timeout</c>).</param>
/// <param name="LoggerFactory">Where the proxies log.</param>
/// <param name="Logger">Where the API's changes are logged (category <c>EchoKit.Cli.Proxy</c>).</param>
/// <param name="Changed">Called after every change, to redraw the status line.</param>
internal sealed record ProxySettings(int? Seed, TimeSpan ConnectTimeout, ILoggerFactory? LoggerFactory, ILogger Logger, Action Changed);
