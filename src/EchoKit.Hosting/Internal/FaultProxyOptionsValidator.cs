using EchoKit.Shared;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered fault proxy: the configuration values that could not be read (each
/// naming its key), then <see cref="FaultProxyOptions.Validate"/> (naming the option and its rule). Runs when the host
/// starts (ValidateOnStart), before any proxy or server binds.
/// </summary>
internal sealed class FaultProxyOptionsValidator(FaultProxyRegistry registry) : IValidateOptions<FaultProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, FaultProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        name ??= Options.DefaultName;
        if (!registry.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>(FaultProxyConfigurationBinder.GetErrors(options));
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            failures.Add(EchoServerOptionDescription.RuleOf(ex));
        }

        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        // The options' rule names FaultProxyOptions.Upstream; from configuration, name the key that sets it too. (A
        // value that did not parse is already named above, with its key.)
        if (options.Upstream is null && !failures.Any(IsAboutUpstream)
            && FaultProxyConfigurationBinder.GetKey(options, nameof(FaultProxyOptions.Upstream)) is { } upstreamKey)
        {
            failures.Add($"{upstreamKey}: the server each connection is relayed to is required; write a host and port such as 127.0.0.1:6379 or redis.local:6379, or unix:/path/to/socket.");
        }

        failures.AddRange(FaultProxyConfigurationBinder.GetHints(options));
        return ValidateOptionsResult.Fail(name.Length == 0 ? failures : failures.Select(f => $"Fault proxy '{name}': {f}"));

        bool IsAboutUpstream(string failure) =>
            FaultProxyConfigurationBinder.GetKey(options, nameof(FaultProxyOptions.Upstream)) is { } key
            && failure.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase);
    }
}
