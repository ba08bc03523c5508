using EchoKit;
using EchoKit.Hosting.Internal;
using EchoKit.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers EchoKit echo servers that run as hosted services in the .NET Generic Host.
/// </summary>
/// <remarks>
/// <para>
/// Each <c>AddEchoServer</c> call adds configuration to a server's <see cref="EchoServerOptions"/> (named
/// options; the unnamed server uses <see cref="Options.Options.DefaultName"/>). The first call for a name also
/// registers, once:
/// </para>
/// <list type="bullet">
/// <item><description>
/// the <see cref="EchoServer"/> itself as a singleton: the unnamed server as <see cref="EchoServer"/>, a named
/// one as a keyed service with its name as the key (<c>GetRequiredKeyedService&lt;EchoServer&gt;(name)</c>, or
/// <c>[FromKeyedServices(name)]</c>). It is built with the <c>ILoggerFactory</c> and, when registered, the
/// <c>IMeterFactory</c> of the container. Resolve it to subscribe to its events before the host starts, or to
/// read <see cref="EchoServer.EndPoints"/> (the real ports) and <see cref="EchoServer.GetStatistics"/> once the
/// host has started;
/// </description></item>
/// <item><description>
/// an <see cref="IHostedService"/> that starts the server when the host starts (a port in use fails the host's
/// start with an <see cref="IOException"/> naming the endpoint) and stops it gracefully when the host stops,
/// draining connections for up to <see cref="EchoServerOptions.ShutdownTimeout"/> or until the host's shutdown
/// token is cancelled, whichever comes first;
/// </description></item>
/// <item><description>
/// validation at start-up: an invalid option, or a configuration value that cannot be read, fails the host's
/// start with an <see cref="OptionsValidationException"/> whose message names each key and its rule.
/// </description></item>
/// </list>
/// <para>
/// Configuration keys are the names of the <see cref="EchoServerOptions"/> properties. <c>EndPoints</c> is an
/// array of strings (or one string separated by <c>;</c>): <c>127.0.0.1:7007</c>, <c>[::1]:7007</c>,
/// <c>0.0.0.0:0</c> (port 0 picks a free port) or <c>unix:/path/to/socket</c>. Time spans are written
/// <c>[d.]hh:mm:ss[.fffffff]</c>, for example <c>00:00:30</c>; an empty <c>IdleTimeout</c> turns it off.
/// Endpoints from configuration and from configure actions are all listened on. <c>UdpEndPoints</c> and
/// <c>TlsEndPoints</c> take IP endpoints the same way; the <c>Udp</c> and <c>Tls</c> sections hold their settings
/// (a configured <c>Udp:BlockedSourcePorts</c> list replaces the defaults). The TLS certificate is read from
/// <c>Tls:Certificate:Path</c> (a .pfx file, with <c>Password</c>; or a PEM certificate, with <c>KeyPath</c>),
/// relative to the host's content root, and is disposed with the container.
/// </para>
/// </remarks>
public static class EchoServerServiceCollectionExtensions
{
    /// <summary>Adds the unnamed echo server, configured in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options; runs after earlier configuration of the same server.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, Action<EchoServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddEchoServerCore(services, Options.Options.DefaultName, configuration: null, configure);
    }

    /// <summary>Adds the unnamed echo server, configured from a configuration section such as <c>EchoServer</c>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are the option names, for example <c>builder.Configuration.GetSection("EchoServer")</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddEchoServerCore(services, Options.Options.DefaultName, configuration, configure: null);
    }

    /// <summary>Adds the unnamed echo server, configured from a configuration section and then in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are the option names.</param>
    /// <param name="configure">Sets the options after the section is bound.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, IConfiguration configuration, Action<EchoServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        return AddEchoServerCore(services, Options.Options.DefaultName, configuration, configure);
    }

    /// <summary>Adds a named echo server, configured in code; resolve it as a keyed <see cref="EchoServer"/> with <paramref name="name"/> as the key.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The server's name: its options name and service key. An empty name is the unnamed server.</param>
    /// <param name="configure">Sets the options; runs after earlier configuration of the same server.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, string name, Action<EchoServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        return AddEchoServerCore(services, name, configuration: null, configure);
    }

    /// <summary>Adds a named echo server, configured from a configuration section; resolve it as a keyed <see cref="EchoServer"/> with <paramref name="name"/> as the key.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The server's name: its options name and service key. An empty name is the unnamed server.</param>
    /// <param name="configuration">The section whose keys are the option names, for example <c>builder.Configuration.GetSection("EchoServers:Health")</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddEchoServerCore(services, name, configuration, configure: null);
    }

    /// <summary>Adds a named echo server, configured from a configuration section and then in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The server's name: its options name and service key. An empty name is the unnamed server.</param>
    /// <param name="configuration">The section whose keys are the option names.</param>
    /// <param name="configure">Sets the options after the section is bound.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IServiceCollection AddEchoServer(this IServiceCollection services, string name, IConfiguration configuration, Action<EchoServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        return AddEchoServerCore(services, name, configuration, configure);
    }

    private static IServiceCollection AddEchoServerCore(
        IServiceCollection services, string name, IConfiguration? configuration, Action<EchoServerOptions>? configure)
    {
        var added = HostedServiceRegistration.Add<EchoServer, EchoServerOptions, EchoServerRegistry, EchoServerOptionsValidator>(
            services,
            name,
            configuration,
            configure,
            bind: (options, section) =>
            {
                // The provider gives the binder the host's content root (for relative certificate paths) and the owner
                // of the certificates it loads.
                services.TryAddSingleton<LoadedCertificates>();
                options.Configure<IServiceProvider>((o, sp) => EchoServerConfigurationBinder.Bind(section, o, sp));
                services.AddOptions<EchoServerDrainOptions>(name).Configure(o => BindDrainDelay(section, o));
            },
            create: (options, logging, meters) => new EchoServer(options, logging, meters),
            host: (serverName, sp) => new EchoServerHostedService(serverName, sp));
        if (added)
        {
            services.AddOptions<EchoServerDrainOptions>(name).ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EchoServerDrainOptions>, EchoServerDrainOptionsValidator>());
        }

        return services;
    }

    /// <summary>The <c>DrainDelay</c> key of the server's section, in the grammar of every duration (<c>5s</c>, <c>500ms</c>).</summary>
    private static void BindDrainDelay(IConfiguration configuration, EchoServerDrainOptions options)
    {
        if (configuration["DrainDelay"] is not { } text)
        {
            return;
        }

        var key = configuration is IConfigurationSection section ? $"{section.Path}:DrainDelay" : "DrainDelay";
        if (!EchoKit.Shared.ValueGrammar.TryParseDuration(text, out var delay, out var error))
        {
            options.BindError = $"{key}: '{text}' is not {error.What}{(error.Hint is null ? "" : $"; {error.Hint}")}.";
            return;
        }

        options.DrainDelay = delay;
    }
}
