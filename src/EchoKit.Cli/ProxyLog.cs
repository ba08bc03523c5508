using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// The log messages of <c>echokit proxy</c> and its Toxiproxy-compatible API (category <c>EchoKit.Cli.Proxy</c>),
/// ids 110-119: after the admin endpoint's 100-109, far from the library's own.
/// </summary>
internal static partial class ProxyLog
{
    [LoggerMessage(110, LogLevel.Information, "Toxiproxy-compatible API listening on http://{EndPoint}")]
    public static partial void ApiListening(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(111, LogLevel.Information, "Proxy {Name} created")]
    public static partial void Created(ILogger logger, string name);

    [LoggerMessage(112, LogLevel.Information, "Proxy {Name} deleted")]
    public static partial void Deleted(ILogger logger, string name);

    [LoggerMessage(113, LogLevel.Information, "Proxy {Name} enabled: {Listen} to {Upstream}")]
    public static partial void Enabled(ILogger logger, string name, string listen, string upstream);

    [LoggerMessage(114, LogLevel.Information, "Proxy {Name} disabled: its connections are closed, new ones refused")]
    public static partial void Disabled(ILogger logger, string name);

    [LoggerMessage(115, LogLevel.Information, "Proxy {Name}: {Count} toxic(s) in force")]
    public static partial void ToxicsChanged(ILogger logger, string name, int count);

    [LoggerMessage(116, LogLevel.Information, "Reset: every proxy enabled, every toxic removed")]
    public static partial void Reset(ILogger logger);
}
