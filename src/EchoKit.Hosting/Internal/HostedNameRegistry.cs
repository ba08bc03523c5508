using Microsoft.Extensions.DependencyInjection;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// The names of the echo servers, or of the fault proxies, added to one service collection (one registry type each, so
/// a proxy and a server may share a name), kept in the collection itself so that a second <c>AddEchoServer</c> or
/// <c>AddFaultProxy</c> for a name adds configuration only, not a second service or hosted service.
/// </summary>
internal abstract class HostedNameRegistry
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Finds the <typeparamref name="TRegistry"/> of <paramref name="services"/>, adding it on first use.</summary>
    public static TRegistry From<TRegistry>(IServiceCollection services)
        where TRegistry : HostedNameRegistry, new()
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(TRegistry) && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is TRegistry registry)
            {
                return registry;
            }
        }

        var added = new TRegistry();
        services.AddSingleton(added);
        return added;
    }

    /// <summary>Resolves the service called <paramref name="name"/> (the unnamed one, not keyed, when it is empty).</summary>
    public static TService Resolve<TService>(IServiceProvider services, string name)
        where TService : notnull =>
        name.Length == 0 ? services.GetRequiredService<TService>() : services.GetRequiredKeyedService<TService>(name);

    /// <summary>Records <paramref name="name"/>; <see langword="false"/> when it was already added.</summary>
    public bool Add(string name) => _names.Add(name);

    public bool Contains(string name) => _names.Contains(name);
}
