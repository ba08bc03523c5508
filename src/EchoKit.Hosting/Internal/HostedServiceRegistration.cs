using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// The one way <c>AddEchoServer</c> and <c>AddFaultProxy</c> register a named EchoKit service: every call adds its
/// configuration to the named options; the first call for a name also adds the service (keyed by the name unless it is
/// empty), its validation at start and its hosted service, so that calling again never runs a second one.
/// </summary>
internal static class HostedServiceRegistration
{
    /// <summary>Adds <paramref name="configuration"/> (through <paramref name="bind"/>) and then <paramref name="configure"/> to the options called <paramref name="name"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The options name and service key; empty for the unnamed service.</param>
    /// <param name="configuration">The section to bind, or <see langword="null"/>; a change to it rebuilds the options.</param>
    /// <param name="configure">Runs after the section is bound, or <see langword="null"/>.</param>
    /// <param name="bind">Adds the binding of the section to the options (and whatever the binding needs).</param>
    /// <param name="create">Builds the service from its options and the container's logging and metrics.</param>
    /// <param name="host">Builds the hosted service that starts and stops the service called by the name.</param>
    /// <returns>
    /// The registry's answer: <see langword="true"/> when this call was the first for <paramref name="name"/> and
    /// registered the service, for the caller to add what else it registers once.
    /// </returns>
    public static bool Add<
        TService,
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions,
        TRegistry,
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(
        IServiceCollection services,
        string name,
        IConfiguration? configuration,
        Action<TOptions>? configure,
        Action<OptionsBuilder<TOptions>, IConfiguration> bind,
        Func<TOptions, ILoggerFactory?, IMeterFactory?, TService> create,
        Func<string, IServiceProvider, IHostedService> host)
        where TService : class
        where TOptions : class
        where TRegistry : HostedNameRegistry, new()
        where TValidator : class, IValidateOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(services);

        var options = services.AddOptions<TOptions>(name);
        if (configuration is not null)
        {
            bind(options, configuration);
            services.AddSingleton<IOptionsChangeTokenSource<TOptions>>(new ConfigurationChangeTokenSource<TOptions>(name, configuration));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        if (!HostedNameRegistry.From<TRegistry>(services).Add(name))
        {
            return false;
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        if (name.Length == 0)
        {
            services.TryAddSingleton(sp => Create(sp));
        }
        else
        {
            services.TryAddKeyedSingleton(name, (sp, _) => Create(sp));
        }

        services.AddSingleton<IHostedService>(sp => host(name, sp));
        return true;

        TService Create(IServiceProvider sp) => create(
            sp.GetRequiredService<IOptionsMonitor<TOptions>>().Get(name), sp.GetService<ILoggerFactory>(), sp.GetService<IMeterFactory>());
    }
}
