using System.Globalization;

namespace EchoKit.Benchmarks.Faults;

/// <summary>Options of <c>faults</c>: the fault-accuracy benchmark.</summary>
internal sealed class FaultAccuracySettings
{
    /// <summary>Concurrent ping-pong connections of the latency cases.</summary>
    public int Connections { get; set; } = 100;

    /// <summary>How long each latency and bandwidth case runs (the first part of it is warm-up, not measured).</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Connections of the toxicity count, opened one after another, per seed.</summary>
    public int ToxicityConnections { get; set; } = 1000;

    /// <summary>Seeds of the toxicity count: 1 to this.</summary>
    public int Seeds { get; set; } = 5;

    /// <summary>Also print the results as JSON after the Markdown.</summary>
    public bool Json { get; set; }

    /// <summary>The parts to run: latency, bandwidth, toxicity, timer.</summary>
    public List<string> Parts { get; set; } = [.. AllParts];

    public static IReadOnlyList<string> AllParts { get; } = ["latency", "bandwidth", "toxicity", "timer"];

    /// <summary>The part of each case that is not measured: JIT, connects, and the first bandwidth burst.</summary>
    public TimeSpan Warmup => TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(500).Ticks, Duration.Ticks / 5));

    /// <summary>Applies <c>--name value</c> pairs (and the flag <c>--json</c>); returns an error message or null.</summary>
    public string? Parse(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--json")
            {
                Json = true;
                continue;
            }

            if (i + 1 >= args.Count)
            {
                return $"{name} needs a value.";
            }

            var value = args[++i];
            try
            {
                switch (name)
                {
                    case "--connections":
                        Connections = Between(int.Parse(value, CultureInfo.InvariantCulture), name, 1, 5000);
                        break;
                    case "--duration":
                        var seconds = double.Parse(value, CultureInfo.InvariantCulture);
                        Duration = seconds is >= 1 and <= 600 ? TimeSpan.FromSeconds(seconds) : throw new ArgumentException($"{name} must be between 1 and 600 seconds.");
                        break;
                    case "--toxicity-connections":
                        ToxicityConnections = Between(int.Parse(value, CultureInfo.InvariantCulture), name, 10, 20_000);
                        break;
                    case "--seeds":
                        Seeds = Between(int.Parse(value, CultureInfo.InvariantCulture), name, 1, 100);
                        break;
                    case "--parts":
                        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant()).Distinct().ToList();
                        if (parts.Count == 0 || parts.Any(p => !AllParts.Contains(p)))
                        {
                            return $"{name}: expected a comma-separated list of {string.Join(", ", AllParts)}.";
                        }

                        Parts = parts;
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

        return null;
    }

    private static int Between(int value, string name, int min, int max) =>
        value >= min && value <= max ? value : throw new ArgumentException($"{name} must be between {min} and {max}.");
}
