// The EchoKit sample: an echo server on port 7007 with console logging, a statistics line every few
// seconds, and a graceful stop on Ctrl+C or SIGTERM.
//
//   dotnet run --project samples/EchoKit.Sample                      (127.0.0.1:7007)
//   dotnet run --project samples/EchoKit.Sample -- --port 9000 --address ::
//   dotnet run --project samples/EchoKit.Sample -- --udp --tls-port 7443 --unix /tmp/echo.sock
//   nc 127.0.0.1 7007                                  (TCP)
//   socat - UDP:127.0.0.1:7007                         (UDP, with --udp)
//   openssl s_client -quiet -connect 127.0.0.1:7443    (TLS, with --tls-port 7443)
//   socat - UNIX-CONNECT:/tmp/echo.sock                (Unix socket, with --unix /tmp/echo.sock)
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EchoKit;
using Microsoft.Extensions.Logging;

var address = IPAddress.Loopback;
var port = 7007;
var statsInterval = TimeSpan.FromSeconds(5);
var logLevel = LogLevel.Information;
var udp = false;
int? tlsPort = null;
string? unixPath = null;
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
        case "--udp":
            udp = true;
            break;
        case "--tls-port":
            tlsPort = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--unix":
            unixPath = Next();
            break;
        case "--quiet" or "-q":
            logLevel = LogLevel.Warning;
            break;
        case "--verbose" or "-v":
            logLevel = LogLevel.Debug;
            break;
        case "--help" or "-h":
            Console.WriteLine("Usage: EchoKit.Sample [--port 7007] [--address 127.0.0.1] [--udp] [--tls-port 7443] [--unix /tmp/echo.sock] [--stats-interval 5] [--quiet] [--verbose]");
            return 0;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Try --help.");
            return 2;
    }
}

if (tlsPort is null && Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    // Socket completions on the runtime's epoll thread instead of a thread-pool hop: 1.1-1.4x the message rate
    // on 2 cores (docs/BENCHMARKS.md). Only for a process whose event handlers never block, and not with TLS, whose
    // handshakes would then run on that one thread. The runtime reads this once, before the first socket.
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(logLevel));
var options = new EchoServerOptions { EndPoints = { new IPEndPoint(address, port) } };
if (udp)
{
    options.UdpEndPoints.Add(new IPEndPoint(address, port));
}

if (unixPath is not null)
{
    options.EndPoints.Add(new UnixDomainSocketEndPoint(unixPath));
}

if (tlsPort is { } tls)
{
    // A throw-away self-signed certificate, good for trying TLS clients (openssl s_client accepts it).
    using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
    options.TlsEndPoints.Add(new IPEndPoint(address, tls));
    options.Tls.ServerCertificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
}

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

Console.WriteLine($"Echoing on {string.Join(", ", server.Listeners)}. Try: nc {address} {((IPEndPoint)server.EndPoints[0]).Port}. Ctrl+C stops.");

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
