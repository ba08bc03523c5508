using System.Globalization;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>Reads a process's CPU time and memory from /proc (Linux only; other systems read as unknown).</summary>
internal static class ProcFs
{
    /// <summary>USER_HZ: the unit of utime and stime in /proc/&lt;pid&gt;/stat (100 on Linux).</summary>
    public const double ClockTicksPerSecond = 100;

    /// <summary>utime + stime of <paramref name="pid"/> in seconds, or NaN when unknown.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

            // fields[0] is field 3 (state); utime is field 14, stime field 15.
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return (utime + stime) / ClockTicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>Resident set size in bytes (VmRSS), or -1.</summary>
    public static long RssBytes(int pid) => StatusBytes(pid, "VmRSS:");

    /// <summary>Peak resident set size in bytes (VmHWM), or -1.</summary>
    public static long PeakRssBytes(int pid) => StatusBytes(pid, "VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (writes 5 to clear_refs); returns whether that worked.</summary>
    public static bool ResetPeakRss(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A value from /proc/self/limits, for example "Max open files" (soft limit), or null.</summary>
    public static string? Limit(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                {
                    var parts = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length > 0 ? parts[0] : null;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>The first line of <paramref name="path"/> that starts with <paramref name="prefix"/>, without it; or null.</summary>
    public static string? FindLine(string path, string prefix)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line[prefix.Length..].Trim().TrimStart(':').Trim();
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    private static long StatusBytes(int pid, string key)
    {
        var value = FindLine($"/proc/{pid}/status", key);
        if (value is null)
        {
            return -1;
        }

        var number = value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return long.TryParse(number, NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : -1;
    }
}

/// <summary>Samples a process's RSS every few milliseconds and keeps the largest value.</summary>
internal sealed class RssSampler : IAsyncDisposable
{
    private readonly int _pid;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _max = -1;

    public RssSampler(int pid, TimeSpan interval)
    {
        _pid = pid;
        _loop = Task.Run(() => LoopAsync(interval));
    }

    public long MaxBytes => Interlocked.Read(ref _max);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private async Task LoopAsync(TimeSpan interval)
    {
        // Bounded: stops when disposed, and after at most one hour of samples.
        var limit = (int)Math.Max(1, TimeSpan.FromHours(1) / interval);
        using var timer = new PeriodicTimer(interval);
        for (var i = 0; i < limit; i++)
        {
            Sample();
            try
            {
                if (!await timer.WaitForNextTickAsync(_stop.Token))
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Sample();
    }

    private void Sample()
    {
        var rss = ProcFs.RssBytes(_pid);
        if (rss > Interlocked.Read(ref _max))
        {
            Interlocked.Exchange(ref _max, rss);
        }
    }
}
