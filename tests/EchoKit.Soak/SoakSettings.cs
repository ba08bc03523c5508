using System.Globalization;

namespace EchoKit.Soak;

/// <summary>Command-line settings of the soak run; see <see cref="Usage"/>.</summary>
internal sealed class SoakSettings
{
    public const string Usage = """
        EchoKit soak: N loopback connections echo random-sized messages, every byte verified, for a duration; RSS, managed
        heap, open descriptors and throughput are sampled once a second. Exits 1 if, after the warm-up, RSS, the live
        managed heap or the descriptor count grew beyond the tolerance (mean of the last third of the samples against
        the mean of the first third), if any byte differed, if a connection stalled, or if anything leaked at the end.

          --connections N     concurrent connections (default 1000), from 127.0.0.x source addresses
          --duration S        seconds of echo (default 60; 0 skips the soak, e.g. to run --churn alone)
          --warmup S          seconds excluded from the growth check (default: a sixth of the duration, at least 5)
          --tolerance P       allowed growth in percent (default 10); growth under a small absolute floor
                              (RSS 8 MiB, heap 4 MiB, 16 descriptors) never fails
          --message-size B    largest message; each is 1..B bytes (default 4096)
          --sources K         127.0.0.2 .. 127.0.0.(K+1) as client addresses (default 16)
          --think-ms MS       pause between a connection's echoes (default 0: full speed)
          --churn N           then N connect/echo/close cycles (graceful, half-close, reset in turn; default 0)
          --churn-workers W   concurrent churn workers (default 8)
          --csv PATH          also write the samples as CSV
          --seed S            seed of the message sizes and contents (default 1)
        """;

    public int Connections { get; private set; } = 1000;

    public int DurationSeconds { get; private set; } = 60;

    public int? WarmupSeconds { get; private set; }

    public double TolerancePercent { get; private set; } = 10;

    public int MessageSize { get; private set; } = 4096;

    public int Sources { get; private set; } = 16;

    public int ThinkMilliseconds { get; private set; }

    public int ChurnCycles { get; private set; }

    public int ChurnWorkers { get; private set; } = 8;

    public string? CsvPath { get; private set; }

    public int Seed { get; private set; } = 1;

    public int EffectiveWarmupSeconds => WarmupSeconds ?? Math.Max(5, DurationSeconds / 6);

    public static SoakSettings Parse(string[] args)
    {
        var settings = new SoakSettings();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                throw new ArgumentException(Usage);
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value.{Environment.NewLine}{Usage}");
            }

            var value = args[++i];
            switch (name)
            {
                case "--connections":
                    settings.Connections = Int(name, value, 1, 30_000);
                    break;
                case "--duration":
                    settings.DurationSeconds = Int(name, value, 0, 7 * 24 * 3600);
                    break;
                case "--warmup":
                    settings.WarmupSeconds = Int(name, value, 0, 24 * 3600);
                    break;
                case "--tolerance":
                    settings.TolerancePercent = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t >= 0
                        ? t
                        : throw new ArgumentException($"{name} must be a percentage of 0 or more (was '{value}').");
                    break;
                case "--message-size":
                    settings.MessageSize = Int(name, value, 1, 16 * 1024 * 1024);
                    break;
                case "--sources":
                    settings.Sources = Int(name, value, 1, 250);
                    break;
                case "--think-ms":
                    settings.ThinkMilliseconds = Int(name, value, 0, 60_000);
                    break;
                case "--churn":
                    settings.ChurnCycles = Int(name, value, 0, 100_000_000);
                    break;
                case "--churn-workers":
                    settings.ChurnWorkers = Int(name, value, 1, 1024);
                    break;
                case "--csv":
                    settings.CsvPath = value;
                    break;
                case "--seed":
                    settings.Seed = Int(name, value, int.MinValue, int.MaxValue);
                    break;
                default:
                    throw new ArgumentException($"Unknown option {name}.{Environment.NewLine}{Usage}");
            }
        }

        if (settings.DurationSeconds > 0 && settings.EffectiveWarmupSeconds + 3 > settings.DurationSeconds)
        {
            throw new ArgumentException($"--warmup ({settings.EffectiveWarmupSeconds} s) must leave at least 3 s of a --duration of {settings.DurationSeconds} s to check.");
        }

        return settings;
    }

    private static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} must be a whole number from {min} to {max} (was '{value}').");
}
