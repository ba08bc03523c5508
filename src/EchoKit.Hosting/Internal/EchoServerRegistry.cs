using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// The names of the echo servers added to one service collection, kept in the collection itself so that a
/// second <c>AddEchoServer</c> for a name adds configuration only, not a second server or hosted service.
/// </summary>
internal sealed class EchoServerRegistry
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _draining = new(StringComparer.Ordinal);

    /// <summary>Finds the registry of <paramref name="services"/>, adding it on first use.</summary>
    public static EchoServerRegistry From(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(EchoServerRegistry) && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is EchoServerRegistry registry)
            {
                return registry;
            }
        }

        var added = new EchoServerRegistry();
        services.AddSingleton(added);
        return added;
    }

    /// <summary>Builds the server called <paramref name="name"/> from its options and the container's logging and metrics.</summary>
    public static EchoServer CreateServer(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(name);
        return new EchoServer(options, services.GetService<ILoggerFactory>(), services.GetService<IMeterFactory>());
    }

    /// <summary>Resolves the server called <paramref name="name"/> (the unnamed one when it is empty).</summary>
    public static EchoServer GetServer(IServiceProvider services, string name) =>
        name.Length == 0 ? services.GetRequiredService<EchoServer>() : services.GetRequiredKeyedService<EchoServer>(name);

    /// <summary>Records <paramref name="name"/>; <see langword="false"/> when it was already added.</summary>
    public bool Add(string name) => _names.Add(name);

    public bool Contains(string name) => _names.Contains(name);

    /// <summary>The host is stopping and the server called <paramref name="name"/> drains (see <see cref="EchoServerDrainOptions"/>).</summary>
    public void MarkDraining(string name)
    {
        lock (_draining)
        {
            _draining.Add(name);
        }
    }

    public bool IsDraining(string name)
    {
        lock (_draining)
        {
            return _draining.Contains(name);
        }
    }
}
