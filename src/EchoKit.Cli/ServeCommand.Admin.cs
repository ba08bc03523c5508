using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

internal sealed partial class ServeCommand
{
    /// <summary>What <c>--admin</c> needs besides the server: where to listen, and where its and Kestrel's messages go.</summary>
    private sealed record AdminSettings(IPEndPoint EndPoint, ILoggerProvider LogProvider, LogLevel LogLevel, ILogger Logger);
}
