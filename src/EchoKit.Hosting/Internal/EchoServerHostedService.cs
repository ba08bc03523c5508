using Microsoft.Extensions.Hosting;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Starts one registered <see cref="EchoServer"/> with the host and stops it gracefully with the host. The server
/// is resolved only when the host starts, after the host has validated the options.
/// </summary>
internal sealed class EchoServerHostedService(string name, IServiceProvider services) : IHostedService
{
    private EchoServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var server = EchoServerRegistry.GetServer(services, name);
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

    /// <summary>Drains for up to the server's ShutdownTimeout, or until the host's shutdown token is cancelled.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _server?.StopAsync(cancellationToken) ?? Task.CompletedTask;
}
