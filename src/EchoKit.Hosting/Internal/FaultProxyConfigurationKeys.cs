using System.Net;
using EchoKit.Shared;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// One configuration key of a <see cref="FaultProxyOptions"/> section: its name, whether it holds a list, how its
/// value is read and how it is set.
/// </summary>
/// <param name="Key">The key under the proxy's section (<c>Upstream</c>).</param>
/// <param name="IsList">Whether the key holds an array (or one string of items).</param>
/// <param name="Read">Reads one value, or one item of a list.</param>
/// <param name="Split">Splits one string into the items of a list (an environment variable: <c>"a;b"</c>).</param>
/// <param name="Set">Sets one value, or adds one item of a list.</param>
internal sealed record FaultProxyConfigurationKey(
    string Key, bool IsList, ConfigurationValueReader Read, Func<string, string[]> Split, Action<FaultProxyOptions, object?> Set);

/// <summary>
/// The keys of a fault proxy's configuration section. Every value is written in the grammar of the echo server's
/// keys and <c>echokit</c> flags: where the proxy has an option the server has too (MaxConnections, Faults, ...),
/// the reader is the server's catalog entry itself, so a value is read, and a bad one described, in the same words;
/// <c>Upstream</c> and <c>ConnectTimeout</c> are the proxy's own.
/// </summary>
internal static class FaultProxyConfigurationKeys
{
    /// <summary>Toxiproxy's word for the listening endpoints; read as <c>EndPoints</c> is, and listened on too.</summary>
    public const string Listen = "Listen";

    /// <summary>All of them.</summary>
    public static IReadOnlyList<FaultProxyConfigurationKey> All { get; } =
    [
        FromCatalog(nameof(FaultProxyOptions.EndPoints), nameof(EchoServerOptions.EndPoints), (o, v) => o.EndPoints.Add((EndPoint)v!)),
        FromCatalog(Listen, nameof(EchoServerOptions.EndPoints), (o, v) => o.EndPoints.Add((EndPoint)v!)),
        FromCatalog(nameof(FaultProxyOptions.UdpEndPoints), nameof(EchoServerOptions.UdpEndPoints), (o, v) => o.UdpEndPoints.Add((IPEndPoint)v!)),
        new(nameof(FaultProxyOptions.Upstream), IsList: false, ReadUpstream, ValueGrammar.SplitList, (o, v) => o.Upstream = (EndPoint)v!),
        new(nameof(FaultProxyOptions.ConnectTimeout), IsList: false, ReadDuration, ValueGrammar.SplitList, (o, v) => o.ConnectTimeout = (TimeSpan)v!),
        FromCatalog(nameof(FaultProxyOptions.Faults), nameof(EchoServerOptions.Faults), (o, v) => o.Faults.Add((EchoFault)v!)),
        FromCatalog(nameof(FaultProxyOptions.FaultSeed), nameof(EchoServerOptions.FaultSeed), (o, v) => o.FaultSeed = (int?)v),
        FromCatalog(nameof(FaultProxyOptions.MaxConnections), nameof(EchoServerOptions.MaxConnections), (o, v) => o.MaxConnections = (int)v!),
        FromCatalog(nameof(FaultProxyOptions.ReceiveBufferSize), nameof(EchoServerOptions.ReceiveBufferSize), (o, v) => o.ReceiveBufferSize = (int)v!),
        FromCatalog(nameof(FaultProxyOptions.IdleTimeout), nameof(EchoServerOptions.IdleTimeout), (o, v) => o.IdleTimeout = (TimeSpan?)v),
        FromCatalog(nameof(FaultProxyOptions.NoDelay), nameof(EchoServerOptions.NoDelay), (o, v) => o.NoDelay = (bool)v!),
    ];

    /// <summary>Finds unknown keys in a proxy's section; its message points at the <see cref="FaultProxyOptions"/> property names.</summary>
    public static ConfigurationKeyCheck KeyCheck { get; } = new(
        [.. All.Where(k => !k.IsList).Select(k => k.Key)],
        [.. All.Where(k => k.IsList).Select(k => k.Key)],
        nameof(FaultProxyOptions));

    private static FaultProxyConfigurationKey FromCatalog(string key, string serverProperty, Action<FaultProxyOptions, object?> set)
    {
        if (!EchoServerOptionCatalog.TryFind(serverProperty, out var description))
        {
            throw new InvalidOperationException($"EchoServerOptionCatalog has no {serverProperty}.");
        }

        return new(key, description.IsList, (string text, out object? value, out ValueError error) =>
            description.TryRead(text, OptionSource.Configuration, out value, out error), description.SplitList, set);
    }

    private static bool ReadUpstream(string text, out object? value, out ValueError error)
    {
        var parsed = ValueGrammar.TryParseUpstream(text, out var endPoint, out error);
        value = endPoint;
        return parsed;
    }

    private static bool ReadDuration(string text, out object? value, out ValueError error)
    {
        var parsed = ValueGrammar.TryParseDuration(text, out var duration, out error);
        value = duration;
        return parsed;
    }
}
