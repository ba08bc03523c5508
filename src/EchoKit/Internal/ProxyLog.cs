using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// The PROXY protocol's log message (event 49, in the range of connection trouble). Rate-limited through a
/// <see cref="LogThrottle"/>: a scanner hitting a PROXY listener without headers must not become a log flood.
/// </summary>
internal static partial class ProxyLog
{
    [LoggerMessage(49, LogLevel.Warning, "Connection from {RemoteEndPoint} on {LocalEndPoint} rejected: {Reason} ({Detail}); {Suppressed} more since the last such warning.")]
    private static partial void LogRejected(ILogger logger, EndPoint? remoteEndPoint, EndPoint? localEndPoint, ConnectionRejectionReason reason, string detail, long suppressed);

    public static void Rejected(ILogger logger, LogThrottle throttle, EndPoint? remoteEndPoint, EndPoint? localEndPoint, ConnectionRejectionReason reason, string detail)
    {
        if (logger.IsEnabled(LogLevel.Warning) && throttle.TryEnter(Stopwatch.GetTimestamp(), out var suppressed))
        {
            LogRejected(logger, remoteEndPoint, localEndPoint, reason, detail, suppressed);
        }
    }

    /// <summary>What went wrong with a header, in words for the log.</summary>
    public static string Describe(ProxyHeaderError error) => error switch
    {
        ProxyHeaderError.NoHeader => "the connection did not start with a PROXY header",
        ProxyHeaderError.TooLong => "the header is longer than ProxyProtocol.MaxHeaderLength (v2) or 107 bytes (v1)",
        ProxyHeaderError.UnsupportedVersion => "the header's version is not 1 or 2",
        ProxyHeaderError.UnsupportedCommand => "the v2 command is neither LOCAL nor PROXY",
        ProxyHeaderError.UnsupportedFamily => "the address family is not supported",
        ProxyHeaderError.UnsupportedTransport => "the transport is not supported",
        ProxyHeaderError.AddressBlockTooShort => "the v2 length is shorter than its address block",
        ProxyHeaderError.InvalidAddress => "an address is malformed",
        ProxyHeaderError.InvalidPort => "a port is malformed",
        _ => "the header is malformed",
    };
}
