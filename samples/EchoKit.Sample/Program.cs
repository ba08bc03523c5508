// The EchoKit sample: an echo server on port 7007 with console logging, a statistics line every few
// seconds, and a graceful stop on Ctrl+C or SIGTERM.
//
//   dotnet run --project samples/EchoKit.Sample                      (127.0.0.1:7007)
//   dotnet run --project samples/EchoKit.Sample -- --port 9000 --address ::
//   nc 127.0.0.1 7007
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using EchoKit;
using Microsoft.Extensions.Logging;

var address = IPAddress.Loopback;
var port = 7007;
var statsInterval = TimeSpan.FromSeconds(5);
var logLevel = LogLevel.Information;
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--port" or "-p":
            port = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--address" or "-a":
            address = IPAddress.Parse(Next());
            break;
        case "--stats-interval":
            statsInterval = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture));
            break;
        case "--quiet" or "-q":
            logLevel = LogLevel.Warning;
            break;
        case "--verbose" or "-v":
            logLevel = LogLevel.Debug;
            break;
        case "--help" or "-h":
            Console.WriteLine("Usage: EchoKit.Sample [--port 7007] [--address 127.0.0.1] [--stats-interval 5] [--quiet] [--verbose]");
            return 0;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Try --help.");
            return 2;
    }
}

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(logLevel));
var options = new EchoServerOptions { EndPoints = { new IPEndPoint(address, port) } };
await using var server = new EchoServer(options, loggerFactory);
try
{
    await server.StartAsync();
}
catch (IOException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}

Console.WriteLine($"Echoing on {string.Join(", ", server.EndPoints)}. Try: nc {address} {((IPEndPoint)server.EndPoints[0]).Port}. Ctrl+C stops.");

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

var previous = server.GetStatistics();
var previousTime = DateTime.UtcNow;
using var timer = new PeriodicTimer(statsInterval);
try
{
    while (await timer.WaitForNextTickAsync(stop.Token))
    {
        var now = DateTime.UtcNow;
        var stats = server.GetStatistics();
        var seconds = (now - previousTime).TotalSeconds;
        Console.WriteLine(
            $"connections {stats.ActiveConnections} active, {stats.AcceptedConnections} accepted, {stats.RejectedConnections} rejected | " +
            $"in {(stats.BytesReceived - previous.BytesReceived) / seconds / 1048576:F2} MiB/s, out {(stats.BytesSent - previous.BytesSent) / seconds / 1048576:F2} MiB/s | " +
            $"total {stats.BytesReceived} B received, {stats.BytesSent} B sent");
        previous = stats;
        previousTime = now;
    }
}
catch (OperationCanceledException)
{
    // Ctrl+C or SIGTERM.
}

Console.WriteLine("Stopping...");
await server.StopAsync();
var final = server.GetStatistics();
Console.WriteLine($"Stopped. {final.AcceptedConnections} connections served, {final.BytesSent} bytes echoed.");
return 0;
