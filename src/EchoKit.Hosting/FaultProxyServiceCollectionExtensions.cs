using EchoKit;
using EchoKit.Hosting.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers EchoKit fault proxies (<see cref="FaultProxy"/>) that run as hosted services in the .NET Generic Host,
/// in front of a real server (Redis, PostgreSQL, an HTTP API) whose clients are to be tested against faults.
/// </summary>
/// <remarks>
/// <para>
/// Each <c>AddFaultProxy</c> call adds configuration to a proxy's <see cref="FaultProxyOptions"/> (named options; the
/// unnamed proxy uses <see cref="Options.Options.DefaultName"/>), as <c>AddEchoServer</c> does for a server. The first
/// call for a name also registers, once:
/// </para>
/// <list type="bullet">
/// <item><description>
/// the <see cref="FaultProxy"/> as a singleton: the unnamed proxy as <see cref="FaultProxy"/>, a named one as a keyed
/// service with its name as the key (<c>GetRequiredKeyedService&lt;FaultProxy&gt;(name)</c>, or
/// <c>[FromKeyedServices(name)]</c>). It is built with the container's <c>ILoggerFactory</c> and, when registered,
/// <c>IMeterFactory</c>. Resolve it to change its rules while it runs (<see cref="FaultProxy.Faults"/>), to subscribe
/// to its events, or to read <see cref="FaultProxy.EndPoints"/> (the real ports) once the host has started;
/// </description></item>
/// <item><description>
/// an <see cref="IHostedService"/> that starts the proxy when the host starts (a port in use fails the host's start
/// with an <see cref="IOException"/> naming the proxy and the endpoint) and stops it when the host stops, closing
/// every relayed connection;
/// </description></item>
/// <item><description>
/// validation at start-up: an invalid option, a configuration value that cannot be read or an unknown key fails the
/// host's start with an <see cref="OptionsValidationException"/> whose message names each key and its rule.
/// </description></item>
/// </list>
/// <para>
/// Configuration keys are the names of the <see cref="FaultProxyOptions"/> properties, with values written as the
/// echo server's are (docs/HOSTING.md): <c>EndPoints</c> (or Toxiproxy's <c>Listen</c>), an array of listening
/// endpoints such as <c>127.0.0.1:0</c> or <c>unix:/path</c>; <c>Upstream</c>, one endpoint to connect to:
/// <c>127.0.0.1:6379</c>, <c>redis.local:6379</c> (resolved for each connection) or <c>unix:/path</c>;
/// <c>ConnectTimeout</c> and <c>IdleTimeout</c>, durations such as <c>5s</c>; <c>Faults</c>, an array of rules such
/// as <c>latency:delay=50ms,stream=upstream</c> (docs/FAULTS.md); <c>FaultSeed</c>, <c>MaxConnections</c>,
/// <c>ReceiveBufferSize</c> and <c>NoDelay</c>.
/// </para>
/// </remarks>
public static class FaultProxyServiceCollectionExtensions
{
    /// <summary>Adds the unnamed fault proxy, configured in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options; runs after earlier configuration of the same proxy.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, Action<FaultProxyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddFaultProxyCore(services, Options.Options.DefaultName, configuration: null, configure);
    }

    /// <summary>Adds the unnamed fault proxy, configured from a configuration section such as <c>FaultProxy</c>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are the option names, for example <c>builder.Configuration.GetSection("FaultProxy")</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddFaultProxyCore(services, Options.Options.DefaultName, configuration, configure: null);
    }

    /// <summary>Adds the unnamed fault proxy, configured from a configuration section and then in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are the option names.</param>
    /// <param name="configure">Sets the options after the section is bound.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, IConfiguration configuration, Action<FaultProxyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        return AddFaultProxyCore(services, Options.Options.DefaultName, configuration, configure);
    }

    /// <summary>Adds a named fault proxy, configured in code; resolve it as a keyed <see cref="FaultProxy"/> with <paramref name="name"/> as the key.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The proxy's name: its options name and service key. An empty name is the unnamed proxy.</param>
    /// <param name="configure">Sets the options; runs after earlier configuration of the same proxy.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, string name, Action<FaultProxyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        return AddFaultProxyCore(services, name, configuration: null, configure);
    }

    /// <summary>Adds a named fault proxy, configured from a configuration section; resolve it as a keyed <see cref="FaultProxy"/> with <paramref name="name"/> as the key.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The proxy's name: its options name and service key. An empty name is the unnamed proxy.</param>
    /// <param name="configuration">The section whose keys are the option names, for example <c>builder.Configuration.GetSection("FaultProxies:Redis")</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddFaultProxyCore(services, name, configuration, configure: null);
    }

    /// <summary>Adds a named fault proxy, configured from a configuration section and then in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The proxy's name: its options name and service key. An empty name is the unnamed proxy.</param>
    /// <param name="configuration">The section whose keys are the option names.</param>
    /// <param name="configure">Sets the options after the section is bound.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddFaultProxy(this IServiceCollection services, string name, IConfiguration configuration, Action<FaultProxyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        return AddFaultProxyCore(services, name, configuration, configure);
    }

    private static IServiceCollection AddFaultProxyCore(
        IServiceCollection services, string name, IConfiguration? configuration, Action<FaultProxyOptions>? configure)
    {
        HostedServiceRegistration.Add<FaultProxy, FaultProxyOptions, FaultProxyRegistry, FaultProxyOptionsValidator>(
            services,
            name,
            configuration,
            configure,
            bind: (options, section) => options.Configure(o => FaultProxyConfigurationBinder.Bind(section, o)),
            create: (options, logging, meters) => new FaultProxy(options, logging, meters),
            host: (proxyName, sp) => new FaultProxyHostedService(proxyName, sp));
        return services;
    }
}
