using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// The names of the fault proxies added to one service collection, kept in the collection itself so that a second
/// <c>AddFaultProxy</c> for a name adds configuration only, not a second proxy or hosted service. Proxy names are
/// their own: a proxy and an echo server may share one.
/// </summary>
internal sealed class FaultProxyRegistry
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Finds the registry of <paramref name="services"/>, adding it on first use.</summary>
    public static FaultProxyRegistry From(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(FaultProxyRegistry) && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is FaultProxyRegistry registry)
            {
                return registry;
            }
        }

        var added = new FaultProxyRegistry();
        services.AddSingleton(added);
        return added;
    }

    /// <summary>Builds the proxy called <paramref name="name"/> from its options and the container's logging and metrics.</summary>
    public static FaultProxy CreateProxy(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<FaultProxyOptions>>().Get(name);
        return new FaultProxy(options, services.GetService<ILoggerFactory>(), services.GetService<IMeterFactory>());
    }

    /// <summary>Resolves the proxy called <paramref name="name"/> (the unnamed one when it is empty).</summary>
    public static FaultProxy GetProxy(IServiceProvider services, string name) =>
        name.Length == 0 ? services.GetRequiredService<FaultProxy>() : services.GetRequiredKeyedService<FaultProxy>(name);

    /// <summary>Records <paramref name="name"/>; <see langword="false"/> when it was already added.</summary>
    public bool Add(string name) => _names.Add(name);

    public bool Contains(string name) => _names.Contains(name);
}
