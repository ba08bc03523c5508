using EchoKit.Shared;
using Microsoft.Extensions.Configuration;

namespace EchoKit.Hosting.Internal;

/// <summary>Reads one configuration value (or one item of a list) without setting anything.</summary>
internal delegate bool ConfigurationValueReader(string text, out object? value, out ValueError error);

/// <summary>
/// Reads one key's value, or list, from configuration for the echo server's and the fault proxy's binders: without
/// reflection (trim- and AOT-safe) and without throwing; a value that cannot be read is added to the errors, naming
/// its full key, so that the options validator lists every problem at once.
/// </summary>
internal static class ConfigurationValues
{
    /// <summary>Reads <paramref name="key"/>; <see langword="false"/> when it is absent or does not read.</summary>
    public static bool TryRead(
        IConfiguration configuration, string key, ConfigurationValueReader read, List<string> errors, out object? value)
    {
        value = null;
        var text = configuration[key];
        if (text is null)
        {
            return false;
        }

        if (read(text, out value, out var error))
        {
            return true;
        }

        errors.Add(error.ForKey(BindingProblems.Combine(BindingProblems.PathOf(configuration), key), text));
        return false;
    }

    /// <summary>
    /// Reads an array, or one string of items split by <paramref name="split"/> (for environment variables:
    /// <c>"127.0.0.1:7007;[::1]:7007"</c>). <c>none</c> or an empty string is an empty list; blank items are skipped.
    /// </summary>
    /// <param name="section">The list's section.</param>
    /// <param name="split">Splits one string into items.</param>
    /// <param name="read">Reads one item.</param>
    /// <param name="itemShape">What one item is, for the error on an object item (such as <c>" (an endpoint)"</c>); may be empty.</param>
    /// <param name="errors">Where the items that cannot be read are added, each naming its key.</param>
    /// <param name="values">The items read, in order.</param>
    /// <returns><see langword="false"/> when any item could not be read: then none should be set.</returns>
    public static bool TryReadList(
        IConfigurationSection section, Func<string, string[]> split, ConfigurationValueReader read, string itemShape,
        List<string> errors, out List<object?> values)
    {
        var items = new List<object?>();
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
                        errors.Add($"{child.Path}: each item must be one value{itemShape}, not an object.");
                        valid = false;
                    }

                    continue;
                }

                valid &= TryReadItem(child.Path, child.Value);
            }
        }
        else if (section.Value is { } list && !ValueGrammar.IsOff(list))
        {
            foreach (var item in split(list))
            {
                valid &= TryReadItem(section.Path, item);
            }
        }

        values = items;
        return valid;

        bool TryReadItem(string path, string text)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return true;
            }

            if (read(text, out var value, out var error))
            {
                items.Add(value);
                return true;
            }

            errors.Add(error.ForKey(path, text));
            return false;
        }
    }
}
