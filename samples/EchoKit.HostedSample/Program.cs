// EchoKit.HostedSample: an echo server run by the .NET Generic Host with the EchoKit.Hosting package. Its
// settings come from appsettings.json (section "EchoServer"), environment variables and the command line; it
// logs to the console, publishes the EchoKit meter through IMeterFactory, logs statistics every 10 seconds and
// stops gracefully on Ctrl+C or SIGTERM.
//
//   dotnet run --project samples/EchoKit.HostedSample                                    (127.0.0.1:7008)
//   dotnet run --project samples/EchoKit.HostedSample -- --EchoServer:EndPoints:0=[::]:7008
//   EchoServer__EndPoints='127.0.0.1:7008;[::1]:7008' dotnet run --project samples/EchoKit.HostedSample
//   nc 127.0.0.1 7008                                                                   (type; every line comes back)
//   dotnet-counters monitor -n EchoKit.HostedSample --counters EchoKit                  (live metrics)
using EchoKit;
using EchoKit.HostedSample;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// Content root = the output folder, so appsettings.json is found whatever the current directory is.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.AddMetrics();
builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
builder.Services.AddHostedService<StatisticsLogger>();

using var host = builder.Build();
try
{
    await host.StartAsync();
}
catch (Exception ex) when (ex is OptionsValidationException or IOException)
{
    // Invalid settings (each names its key and rule) or a port in use (names the endpoint).
    Console.Error.WriteLine($"EchoKit.HostedSample could not start: {ex.Message}");
    return 1;
}

var server = host.Services.GetRequiredService<EchoServer>();
Console.WriteLine($"Echoing on {string.Join(", ", server.EndPoints)}. Ctrl+C stops.");
await host.WaitForShutdownAsync();
var totals = server.GetStatistics();
Console.WriteLine($"Stopped. {totals.AcceptedConnections} connections served, {totals.BytesSent} bytes echoed.");
return 0;
