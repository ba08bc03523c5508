using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// What binding found wrong with one options instance (an echo server's, a fault proxy's), kept beside the instance
/// rather than thrown: the options validator reports it at the host's start, so every problem is listed at once.
/// </summary>
internal sealed class BindingProblems
{
    private static readonly ConditionalWeakTable<object, BindingProblems> ByOptions = new();

    /// <summary>The path of the section bound last (empty for a root); <see langword="null"/> when none was.</summary>
    public string? Path { get; private set; }

    /// <summary>Values that could not be read, each naming its key.</summary>
    public List<string> Errors { get; } = [];

    /// <summary>Notes that help explain other errors (such as a missing section).</summary>
    public List<string> Hints { get; } = [];

    /// <summary>The problems of <paramref name="options"/>, added on first use.</summary>
    public static BindingProblems Of(object options) => ByOptions.GetValue(options, static _ => new BindingProblems());

    /// <summary>
    /// Starts binding <paramref name="configuration"/> into <paramref name="options"/>: <see langword="false"/>, with a
    /// hint, when it is a section that is missing (a misspelled section name must not pass as "nothing configured").
    /// </summary>
    public static bool Start(IConfiguration configuration, object options)
    {
        if (configuration is IConfigurationSection section && !section.Exists())
        {
            Of(options).Hints.Add($"The configuration section '{section.Path}' is missing or empty.");
            return false;
        }

        Of(options).Path = PathOf(configuration);
        return true;
    }

    public static IReadOnlyList<string> GetErrors(object options) => ByOptions.TryGetValue(options, out var problems) ? problems.Errors : [];

    public static IReadOnlyList<string> GetHints(object options) => ByOptions.TryGetValue(options, out var problems) ? problems.Hints : [];

    /// <summary>
    /// The full key of <paramref name="key"/> (such as <c>Proxies:Redis:Upstream</c>) when <paramref name="options"/>
    /// were bound from configuration; otherwise <see langword="null"/> (set in code, there is no key to name).
    /// </summary>
    public static string? GetKey(object options, string key) =>
        ByOptions.TryGetValue(options, out var problems) && problems.Path is { } path ? Combine(path, key) : null;

    /// <summary>A key under a section, or the key alone under a root (whose path is empty).</summary>
    public static string Combine(string sectionPath, string key) =>
        sectionPath.Length == 0 ? key : ConfigurationPath.Combine(sectionPath, key);

    /// <summary>The path of <paramref name="configuration"/>: a section's, or empty for a root.</summary>
    public static string PathOf(IConfiguration configuration) => configuration is IConfigurationSection section ? section.Path : "";
}
