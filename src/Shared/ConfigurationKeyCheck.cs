using Microsoft.Extensions.Configuration;

namespace EchoKit.Shared;

/// <summary>
/// Finds the keys of a server's configuration that no option reads, so that a misspelled key (<c>MaxConection</c>,
/// <c>EndPoint</c>) fails start-up with its name and the nearest known key instead of being silently dropped. The
/// known keys of an echo server are those of <see cref="EchoServerOptionCatalog.All"/> plus the few a host reads
/// itself; other options (a fault proxy's) make their own check from their own keys.
/// </summary>
internal sealed class ConfigurationKeyCheck
{
    /// <summary>Keys read outside the catalog: the certificate (as Kestrel names it) and the host's drain delay.</summary>
    private static readonly string[] HostKeys = ["Tls:Certificate:Path", "Tls:Certificate:KeyPath", "Tls:Certificate:Password", "DrainDelay"];

    private static readonly ConfigurationKeyCheck EchoServerKeys = new(
        [.. EchoServerOptionCatalog.All.Where(o => !o.IsList).Select(o => o.Key), .. HostKeys],
        [.. EchoServerOptionCatalog.All.Where(o => o.IsList).Select(o => o.Key)],
        nameof(EchoServerOptions));

    private readonly string[] _scalarKeys;
    private readonly string[] _listKeys;
    private readonly string _optionsName;

    /// <param name="scalarKeys">Keys that hold one value (<c>MaxConnections</c>, <c>Udp:MaxDatagramSize</c>).</param>
    /// <param name="listKeys">Keys that hold an array, whose items are indexed children (<c>EndPoints:0</c>).</param>
    /// <param name="optionsName">The options type whose property names the keys are, for the error message.</param>
    public ConfigurationKeyCheck(string[] scalarKeys, string[] listKeys, string optionsName)
    {
        _scalarKeys = scalarKeys;
        _listKeys = listKeys;
        _optionsName = optionsName;
    }

    /// <summary>One error per key under an echo server's <paramref name="configuration"/> that no option reads, each naming its full path.</summary>
    public static List<string> FindUnknownKeys(IConfiguration configuration) => EchoServerKeys.Find(configuration);

    /// <summary>One error per key under <paramref name="configuration"/> that is not one of this check's keys, each naming its full path.</summary>
    public List<string> Find(IConfiguration configuration)
    {
        var errors = new List<string>();
        Visit(configuration, "", errors);
        return errors;
    }

    private void Visit(IConfiguration node, string prefix, List<string> errors)
    {
        foreach (var child in node.GetChildren())
        {
            var key = prefix.Length == 0 ? child.Key : $"{prefix}:{child.Key}";
            if (Contains(_listKeys, key))
            {
                continue; // Its items are indexed children; the binder reports an item it cannot read.
            }

            if (Contains(_scalarKeys, key))
            {
                if (child.Value is null && child.GetChildren().Any())
                {
                    errors.Add($"{child.Path}: must be one value, not a section.");
                }

                continue;
            }

            if (IsSection(key))
            {
                Visit(child, key, errors);
                continue;
            }

            var nearest = Nearest(key);
            errors.Add($"{child.Path}: unknown key{(nearest is null ? "." : $"; did you mean '{Rebase(child.Path, key, nearest)}'?")} " +
                $"The keys are the {_optionsName} property names (docs/HOSTING.md).");
        }
    }

    private static bool Contains(string[] keys, string key) => keys.Contains(key, StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="key"/> is a section that holds known keys (<c>Udp</c>, <c>Tls:Certificate</c>).</summary>
    private bool IsSection(string key) =>
        _scalarKeys.Concat(_listKeys).Any(k => k.Length > key.Length && k[key.Length] == ':' && k.StartsWith(key, StringComparison.OrdinalIgnoreCase));

    /// <summary>The known key or section closest to <paramref name="key"/>, when it is close enough to be a typo.</summary>
    private string? Nearest(string key)
    {
        var candidates = _scalarKeys.Concat(_listKeys).SelectMany(SelfAndSections).Distinct(StringComparer.OrdinalIgnoreCase);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(key.ToUpperInvariant(), candidate.ToUpperInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        // A typo is a few edits; anything further is another word, and a guess would mislead.
        return bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    private static IEnumerable<string> SelfAndSections(string key)
    {
        for (var colon = key.IndexOf(':'); colon >= 0; colon = key.IndexOf(':', colon + 1))
        {
            yield return key[..colon];
        }

        yield return key;
    }

    /// <summary>The suggestion as a full path: <c>EchoServer:MaxConection</c> becomes <c>EchoServer:MaxConnections</c>.</summary>
    private static string Rebase(string path, string key, string suggestion) => path[..^key.Length] + suggestion;

    /// <summary>Levenshtein distance (insertions, deletions and substitutions).</summary>
    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
