using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// The log messages of <c>echokit serve</c>'s admin endpoint and drain (category <c>EchoKit.Cli.Admin</c>), ids
/// 100-109: far from the library's 1-8, 20-26 and 40-48, so the tool's own events never collide with the server's.
/// </summary>
internal static partial class AdminLog
{
    [LoggerMessage(100, LogLevel.Information, "Admin endpoint listening on http://{EndPoint}")]
    public static partial void Listening(ILogger logger, IPEndPoint endPoint);

    // The server logs the new rules themselves (event 8); this says who changed them, for an audit of a shared setup.
    [LoggerMessage(101, LogLevel.Information, "Fault rules changed through the admin endpoint: {Method} /faults from {Remote}; {Count} rule(s) in force")]
    public static partial void FaultsChanged(ILogger logger, string method, IPAddress? remote, int count);

    [LoggerMessage(102, LogLevel.Information, "Draining for {Delay}: /readyz answers 503 while the server still accepts and echoes")]
    public static partial void Draining(ILogger logger, TimeSpan delay);
}
