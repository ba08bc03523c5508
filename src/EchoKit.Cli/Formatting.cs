using System.Globalization;

namespace EchoKit.Cli;

/// <summary>Number formats for status lines and reports (invariant culture, binary units).</summary>
internal static class Formatting
{
    private const double MiB = 1024 * 1024;

    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A rate such as <c>950</c>, <c>12.3k</c> or <c>1.25M</c>.</summary>
    public static string Rate(double perSecond) => perSecond switch
    {
        >= 999_500 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1_000_000:0.00}M"),
        >= 9_995 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1000:0.0}k"),
        >= 1000 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1000:0.00}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{perSecond:0}"),
    };

    public static string MiBPerSecond(double bytesPerSecond) =>
        string.Create(CultureInfo.InvariantCulture, $"{bytesPerSecond / MiB:0.00} MiB/s");

    /// <summary>A byte count such as <c>512 B</c>, <c>12.3 KiB</c>, <c>1.21 GiB</c>.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 40 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 40):0.00} TiB"),
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.00} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / MiB:0.00} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };

    /// <summary>An elapsed time as <c>h:mm:ss</c>.</summary>
    public static string Uptime(TimeSpan elapsed) =>
        string.Create(CultureInfo.InvariantCulture, $"{(int)elapsed.TotalHours}:{elapsed.Minutes:00}:{elapsed.Seconds:00}");

    /// <summary>A duration as typed on the command line: <c>1.5 s</c>, <c>250 ms</c>.</summary>
    public static string Seconds(TimeSpan duration) => duration < TimeSpan.FromSeconds(1) && duration > TimeSpan.Zero
        ? string.Create(CultureInfo.InvariantCulture, $"{duration.TotalMilliseconds:0.#} ms")
        : string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:0.##} s");

    /// <summary>Microseconds with 3 significant digits below 100 and none above.</summary>
    public static string Microseconds(double value) => value switch
    {
        >= 100 => value.ToString("N0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
