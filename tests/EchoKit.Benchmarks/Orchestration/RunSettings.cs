using System.Globalization;
using EchoKit.Benchmarks.Servers;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>Options of <c>run</c> and <c>smoke</c>.</summary>
internal sealed class RunSettings
{
    public int Rounds { get; set; } = 3;

    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(1);

    public List<string> Scenarios { get; set; } = Orchestration.Scenarios.All.Select(s => s.Name).ToList();

    public List<string> Servers { get; set; } = [.. BenchServers.All];

    public string? Out { get; set; }

    public int IdleConnections { get; set; } = 10_000;

    public int ChurnConcurrency { get; set; } = 16;

    public int NoReadConnections { get; set; } = 200;

    public long NoReadBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Extra loopback source addresses (127.0.0.2 …) for churn, idle and noread, so ephemeral ports never run short.</summary>
    public int SourceAddresses { get; set; } = 8;

    /// <summary>The load client of pingpong, rate and throughput (<c>--client dotnet|native</c>); churn, idle and noread always use the .NET client.</summary>
    public LoadClientKind Client { get; set; } = LoadClientKind.DotNet;

    public bool Smoke { get; set; }

    public string CommandLine { get; set; } = string.Empty;

    public static RunSettings ForSmoke() => new()
    {
        Smoke = true,
        Rounds = 1,
        Duration = TimeSpan.FromMilliseconds(500),
        Warmup = TimeSpan.FromMilliseconds(200),
        IdleConnections = 100,
        ChurnConcurrency = 4,
        NoReadConnections = 10,
        NoReadBytes = 256 * 1024,

        // Few connections need no extra source addresses; CI then does not depend on 127.0.0.2+ being bindable.
        SourceAddresses = 0,
    };

    /// <summary>Applies <c>--name value</c> pairs; returns an error message or null.</summary>
    public string? Parse(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                return $"{name} needs a value.";
            }

            var value = args[++i];
            try
            {
                switch (name)
                {
                    case "--rounds":
                        Rounds = Positive(int.Parse(value, CultureInfo.InvariantCulture), name, 100);
                        break;
                    case "--duration":
                        Duration = Seconds(value, name);
                        break;
                    case "--warmup":
                        Warmup = TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture));
                        break;
                    case "--scenarios":
                        Scenarios = List(value, Orchestration.Scenarios.All.Select(s => s.Name), name);
                        break;
                    case "--servers":
                        Servers = List(value, BenchServers.Known, name);
                        break;
                    case "--out":
                        Out = value;
                        break;
                    case "--idle-connections":
                        IdleConnections = Positive(int.Parse(value, CultureInfo.InvariantCulture), name, 100_000);
                        break;
                    case "--churn-concurrency":
                        ChurnConcurrency = Positive(int.Parse(value, CultureInfo.InvariantCulture), name, 1024);
                        break;
                    case "--noread-connections":
                        NoReadConnections = Positive(int.Parse(value, CultureInfo.InvariantCulture), name, 10_000);
                        break;
                    case "--noread-mib":
                        NoReadBytes = (long)(double.Parse(value, CultureInfo.InvariantCulture) * 1024 * 1024);
                        break;
                    case "--client":
                        Client = value.ToLowerInvariant() switch
                        {
                            "dotnet" => LoadClientKind.DotNet,
                            "native" => LoadClientKind.Native,
                            _ => throw new ArgumentException($"{name}: expected dotnet or native, not '{value}'."),
                        };
                        break;
                    case "--source-addresses":
                        SourceAddresses = int.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    default:
                        return $"Unknown option '{name}'.";
                }
            }
            catch (FormatException)
            {
                return $"{name}: '{value}' is not a number.";
            }
            catch (ArgumentException ex)
            {
                return ex.Message;
            }
        }

        return Warmup < TimeSpan.Zero ? "--warmup must not be negative." : null;
    }

    private static int Positive(int value, string name, int max) =>
        value >= 1 && value <= max ? value : throw new ArgumentException($"{name} must be between 1 and {max}.");

    private static TimeSpan Seconds(string value, string name)
    {
        var seconds = double.Parse(value, CultureInfo.InvariantCulture);
        return seconds is > 0 and <= 3600 ? TimeSpan.FromSeconds(seconds) : throw new ArgumentException($"{name} must be between 0 and 3600 seconds.");
    }

    private static List<string> List(string value, IEnumerable<string> allowed, string name)
    {
        var known = allowed.ToList();
        var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant()).ToList();
        var unknown = items.Where(s => !known.Contains(s)).ToList();
        if (items.Count == 0 || unknown.Count > 0)
        {
            throw new ArgumentException($"{name}: unknown {string.Join(", ", unknown)}; expected a comma-separated list of {string.Join(", ", known)}.");
        }

        return items.Distinct().ToList();
    }
}
