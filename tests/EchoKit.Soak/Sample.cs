using System.Globalization;

namespace EchoKit.Soak;

/// <summary>One second of the soak.</summary>
internal sealed record Sample(
    double Seconds,
    long Active,
    double EchoesPerSecond,
    double MibPerSecond,
    long Rss,
    long LiveHeap,
    long GcHeap,
    int Descriptors,
    int Threads,
    int Collections,
    (long Connections, long Buffers) Pool,
    int Quiet)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public const string Header = "     t(s)  active    echoes/s     MiB/s   RSS MiB  heap MiB  GC MiB     fds  threads   GCs  pool(conn,buf)  stalled";

    public const string CsvHeader = "seconds,active,echoes_per_s,mib_per_s,rss_bytes,live_heap_bytes,gc_heap_bytes,fds,threads,gcs,pool_connections,pool_buffers,stalled";

    public string Row => string.Create(Inv, $"{Seconds,9:0.0} {Active,7} {EchoesPerSecond,11:N0} {MibPerSecond,9:0.0} {Mb(Rss),9} {Mb(LiveHeap),9} {Mb(GcHeap),7} {Descriptors,7} {Threads,8} {Collections,5}  {$"{Pool.Connections},{Pool.Buffers}",14} {Quiet,8}");

    public string Csv => string.Create(Inv, $"{Seconds:0.0},{Active},{EchoesPerSecond:0},{MibPerSecond:0.00},{Rss},{LiveHeap},{GcHeap},{Descriptors},{Threads},{Collections},{Pool.Connections},{Pool.Buffers},{Quiet}");

    public static string Mb(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.0", Inv);

    public static string Mb(double bytes) => (bytes / (1024.0 * 1024)).ToString("0.0", Inv);
}

/// <summary>The growth check: mean of the last third of the samples against the mean of the first third, and the least-squares slope.</summary>
internal static class Growth
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Fails when the last third's mean exceeds the first third's by more than <paramref name="tolerancePercent"/> AND by
    /// more than <paramref name="floor"/> (so a few bytes on a small number never fail a run).
    /// </summary>
    public static IEnumerable<string> Check(string name, List<Sample> samples, Func<Sample, long> value, long floor, double tolerancePercent, Func<double, string> format)
    {
        if (samples.Count < 3)
        {
            yield return $"too few samples after the warm-up to check {name}";
            yield break;
        }

        var (first, last, percent, slopePerMinute) = Measure(samples, value);
        var grew = last - first;
        var verdict = grew > floor && percent > tolerancePercent ? "FAIL" : "ok";
        Console.WriteLine(string.Create(Inv, $"  {name,-40} first third {format(first),9}, last third {format(last),9}: {percent,6:+0.0;-0.0}% (floor {format(floor)}), slope {format(slopePerMinute)}/min  {verdict}"));
        if (verdict == "FAIL")
        {
            yield return $"{name} grew {percent:0.0}% (from {format(first)} to {format(last)}), more than the {tolerancePercent}% tolerance";
        }
    }

    public static void Report(string name, List<Sample> samples, Func<Sample, long> value, Func<double, string> format)
    {
        if (samples.Count >= 3)
        {
            var (first, last, percent, slopePerMinute) = Measure(samples, value);
            Console.WriteLine(string.Create(Inv, $"  {name,-40} first third {format(first),9}, last third {format(last),9}: {percent,6:+0.0;-0.0}%, slope {format(slopePerMinute)}/min"));
        }
    }

    private static (double First, double Last, double Percent, double SlopePerMinute) Measure(List<Sample> samples, Func<Sample, long> value)
    {
        var third = samples.Count / 3;
        var first = samples.Take(third).Average(s => (double)value(s));
        var last = samples.Skip(samples.Count - third).Average(s => (double)value(s));
        var percent = first > 0 ? (last - first) / first * 100 : 0;

        var meanX = samples.Average(s => s.Seconds);
        var meanY = samples.Average(s => (double)value(s));
        var covariance = samples.Sum(s => (s.Seconds - meanX) * (value(s) - meanY));
        var variance = samples.Sum(s => (s.Seconds - meanX) * (s.Seconds - meanX));
        var slopePerMinute = variance > 0 ? covariance / variance * 60 : 0;
        return (first, last, percent, slopePerMinute);
    }
}
