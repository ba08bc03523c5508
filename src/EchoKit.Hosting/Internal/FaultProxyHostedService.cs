using Microsoft.Extensions.Hosting;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Starts one registered <see cref="FaultProxy"/> with the host and stops it with the host. The proxy is resolved
/// only when the host starts, after the host has validated the options. A proxy has no drain: stopping closes every
/// relayed connection, both sides, as a proxy that goes away does.
/// </summary>
internal sealed class FaultProxyHostedService(string name, IServiceProvider services) : IHostedService
{
    private FaultProxy? _proxy;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var proxy = HostedNameRegistry.Resolve<FaultProxy>(services, name);
        try
        {
            await proxy.StartAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            // The proxy's message names the endpoint; say which proxy too, as a host may run several.
            throw new IOException($"Fault proxy{(name.Length == 0 ? "" : $" '{name}'")} failed to start: {ex.Message}", ex);
        }

        _proxy = proxy;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _proxy?.StopAsync(cancellationToken) ?? Task.CompletedTask;
}
