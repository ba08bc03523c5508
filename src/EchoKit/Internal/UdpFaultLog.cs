using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>The log of UDP fault injection.</summary>
internal static partial class UdpFaultLog
{
    [LoggerMessage(64, LogLevel.Information, "{Count} UDP datagrams held back by fault rules on {EndPoint} were dropped as the server stopped.")]
    public static partial void HeldDroppedAtStop(ILogger logger, int count, EndPoint endPoint);
}
