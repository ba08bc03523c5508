using Microsoft.Extensions.Configuration;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Reads <see cref="FaultProxyOptions"/> from configuration as <see cref="EchoServerConfigurationBinder"/> reads a
/// server's, with the same <see cref="ConfigurationValues"/>: without reflection and without throwing. A value that
/// cannot be read, or a key no option reads, is recorded in the options' <see cref="BindingProblems"/>, naming its key,
/// and reported by <see cref="FaultProxyOptionsValidator"/> when the options are validated (at the host's start).
/// </summary>
internal static class FaultProxyConfigurationBinder
{
    /// <summary>Binds every key present in <paramref name="configuration"/>; keys not present leave the option as it is.</summary>
    /// <param name="configuration">The proxy's section (or a root, whose other keys are then not checked).</param>
    /// <param name="options">The options to set.</param>
    public static void Bind(IConfiguration configuration, FaultProxyOptions options)
    {
        if (!BindingProblems.Start(configuration, options))
        {
            return;
        }

        var errors = BindingProblems.Of(options).Errors;
        foreach (var key in FaultProxyConfigurationKeys.All)
        {
            if (!key.IsList)
            {
                if (ConfigurationValues.TryRead(configuration, key.Key, key.Read, errors, out var value))
                {
                    key.Set(options, value);
                }
            }
            else if (ConfigurationValues.TryReadList(configuration.GetSection(key.Key), key.Split, key.Read, itemShape: "", errors, out var values))
            {
                // A list key adds to the list (a configure action or another section may have added items already).
                foreach (var item in values)
                {
                    key.Set(options, item);
                }
            }
        }

        // A root holds the host's other settings (Logging, environment variables), so only a section is checked.
        if (configuration is IConfigurationSection)
        {
            errors.AddRange(FaultProxyConfigurationKeys.KeyCheck.Find(configuration));
        }
    }
}
