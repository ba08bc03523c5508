using System.Runtime.CompilerServices;
using EchoKit.Shared;
using Microsoft.Extensions.Configuration;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Reads <see cref="FaultProxyOptions"/> from configuration as <see cref="EchoServerConfigurationBinder"/> reads a
/// server's: without reflection and without throwing. A value that cannot be read, or a key no option reads, is
/// recorded against the options instance, naming its key, and reported by <see cref="FaultProxyOptionsValidator"/>
/// when the options are validated (at the host's start), so every problem is listed at once.
/// </summary>
internal static class FaultProxyConfigurationBinder
{
    private static readonly ConditionalWeakTable<FaultProxyOptions, Problems> ProblemsByOptions = new();

    /// <summary>Binds every key present in <paramref name="configuration"/>; keys not present leave the option as it is.</summary>
    /// <param name="configuration">The proxy's section (or a root, whose other keys are then not checked).</param>
    /// <param name="options">The options to set.</param>
    public static void Bind(IConfiguration configuration, FaultProxyOptions options)
    {
        if (configuration is IConfigurationSection section && !section.Exists())
        {
            Report(options).Hints.Add($"The configuration section '{section.Path}' is missing or empty.");
            return;
        }

        Report(options).Path = PathOf(configuration);
        foreach (var key in FaultProxyConfigurationKeys.All)
        {
            if (key.IsList)
            {
                BindList(configuration, key, options);
            }
            else
            {
                BindValue(configuration, key, options);
            }
        }

        // A root holds the host's other settings (Logging, environment variables), so only a section is checked.
        if (configuration is IConfigurationSection)
        {
            Report(options).Errors.AddRange(FaultProxyConfigurationKeys.KeyCheck.Find(configuration));
        }
    }

    /// <summary>The configuration values that could not be read into <paramref name="options"/>, each naming its key.</summary>
    public static IReadOnlyList<string> GetErrors(FaultProxyOptions options) =>
        ProblemsByOptions.TryGetValue(options, out var problems) ? problems.Errors : [];

    /// <summary>Notes that help explain other errors (such as a missing section).</summary>
    public static IReadOnlyList<string> GetHints(FaultProxyOptions options) =>
        ProblemsByOptions.TryGetValue(options, out var problems) ? problems.Hints : [];

    /// <summary>
    /// The full key of <paramref name="key"/> (such as <c>Proxies:Redis:Upstream</c>) when <paramref name="options"/>
    /// were bound from configuration; otherwise <see langword="null"/> (set in code, there is no key to name).
    /// </summary>
    public static string? GetKey(FaultProxyOptions options, string key) =>
        ProblemsByOptions.TryGetValue(options, out var problems) && problems.Path is { } path ? Combine(path, key) : null;

    private static void BindValue(IConfiguration configuration, FaultProxyConfigurationKey key, FaultProxyOptions options)
    {
        var text = configuration[key.Key];
        if (text is null)
        {
            return;
        }

        if (key.Read(text, out var value, out var error))
        {
            key.Set(options, value);
        }
        else
        {
            Report(options).Errors.Add(error.ForKey(Combine(PathOf(configuration), key.Key), text));
        }
    }

    /// <summary>
    /// Binds an array, or one string of items (for environment variables: <c>"127.0.0.1:6380;[::1]:6380"</c>, fault
    /// rules separated by <c>;</c> only, as a rule holds commas). When any item cannot be read, none is added.
    /// </summary>
    private static void BindList(IConfiguration configuration, FaultProxyConfigurationKey key, FaultProxyOptions options)
    {
        var section = configuration.GetSection(key.Key);
        var values = new List<object?>();
        var valid = true;
        var children = section.GetChildren().ToList();
        if (children.Count > 0)
        {
            foreach (var child in children)
            {
                if (child.Value is null)
                {
                    if (child.GetChildren().Any())
                    {
                        Report(options).Errors.Add($"{child.Path}: each item must be one value, not an object.");
                        valid = false;
                    }

                    continue;
                }

                valid &= TryRead(child.Path, child.Value);
            }
        }
        else if (section.Value is { } list && !ValueGrammar.IsOff(list))
        {
            foreach (var item in key.Split(list))
            {
                valid &= TryRead(section.Path, item);
            }
        }

        if (valid)
        {
            foreach (var value in values)
            {
                key.Set(options, value);
            }
        }

        bool TryRead(string path, string text)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return true;
            }

            if (key.Read(text, out var value, out var error))
            {
                values.Add(value);
                return true;
            }

            Report(options).Errors.Add(error.ForKey(path, text));
            return false;
        }
    }

    /// <summary>A key under a section, or the key alone under a root (whose path is empty).</summary>
    private static string Combine(string sectionPath, string key) =>
        sectionPath.Length == 0 ? key : ConfigurationPath.Combine(sectionPath, key);

    private static string PathOf(IConfiguration configuration) => configuration is IConfigurationSection section ? section.Path : "";

    private static Problems Report(FaultProxyOptions options) => ProblemsByOptions.GetValue(options, static _ => new Problems());

    private sealed class Problems
    {
        /// <summary>The path of the section bound last (empty for a root); <see langword="null"/> when none was.</summary>
        public string? Path { get; set; }

        public List<string> Errors { get; } = [];

        public List<string> Hints { get; } = [];
    }
}
