using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Starts one registered <see cref="EchoServer"/> with the host and stops it gracefully with the host. The server
/// is resolved only when the host starts, after the host has validated the options. With a
/// <see cref="EchoServerDrainOptions.DrainDelay"/>, the drain runs in <see cref="StoppingAsync"/>, which the host calls
/// for every hosted service before it stops any, so an HTTP server that answers the health checks is still up.
/// </summary>
internal sealed class EchoServerHostedService(string name, IServiceProvider services) : IHostedLifecycleService
{
    private EchoServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var server = HostedNameRegistry.Resolve<EchoServer>(services, name);
        try
        {
            await server.StartAsync(cancellationToken);
        }
        catch (IOException ex) when (name.Length > 0)
        {
            throw new IOException($"Echo server '{name}' failed to start: {ex.Message}", ex);
        }

        _server = server;
    }

    /// <summary>The drain: the health check reports "draining" at once, the server keeps serving for the delay (or until the host's token is cancelled).</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var delay = services.GetRequiredService<IOptionsMonitor<EchoServerDrainOptions>>().Get(name).DrainDelay;
        if (_server is null || delay <= TimeSpan.Zero)
        {
            return;
        }

        services.GetRequiredService<EchoServerRegistry>().MarkDraining(name);
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host ran out of time: stop now.
        }
    }

    /// <summary>Drains for up to the server's ShutdownTimeout, or until the host's shutdown token is cancelled.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _server?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
