using System.Diagnostics;
using System.Numerics;

namespace EchoKit.LoadGenerator;

/// <summary>
/// A fixed-size log-linear histogram of durations in <see cref="Stopwatch"/> ticks: exact below 128 ticks, then
/// 64 buckets per power of two (at most about 1.6 % relative error). Recording never allocates. Not thread-safe:
/// give each connection its own and <see cref="Add"/> them at the end.
/// </summary>
public sealed class LatencyHistogram
{
    private const int LinearBuckets = 128;
    private const int SubBucketBits = 6;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int BucketCount = LinearBuckets + (64 - SubBucketBits) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];
    private long _total;
    private long _max;
    private double _sum;

    /// <summary>How many values were recorded.</summary>
    public long Count => _total;

    /// <summary>Records one duration in <see cref="Stopwatch"/> ticks; negative values count as 0.</summary>
    /// <param name="ticks">The duration.</param>
    public void Record(long ticks)
    {
        if (ticks < 0)
        {
            ticks = 0;
        }

        _counts[IndexOf(ticks)]++;
        _total++;
        _sum += ticks;
        if (ticks > _max)
        {
            _max = ticks;
        }
    }

    /// <summary>Adds every value recorded in <paramref name="other"/> to this histogram.</summary>
    /// <param name="other">The histogram to merge in.</param>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        _total += other._total;
        _sum += other._sum;
        _max = Math.Max(_max, other._max);
    }

    /// <summary>Forgets every recorded value.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        _total = 0;
        _sum = 0;
        _max = 0;
    }

    /// <summary>The value at <paramref name="quantile"/> (0..1) in microseconds; 0 when empty.</summary>
    /// <param name="quantile">For example 0.99 for p99.</param>
    /// <returns>The representative value of the bucket holding that rank, in microseconds.</returns>
    public double GetQuantileMicroseconds(double quantile)
    {
        if (_total == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(Math.Clamp(quantile, 0, 1) * _total);
        rank = Math.Clamp(rank, 1, _total);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return TicksToMicroseconds(Math.Min(ValueOf(i), _max));
            }
        }

        return TicksToMicroseconds(_max);
    }

    /// <summary>p50, p90, p99, p99.9, mean and max in microseconds.</summary>
    /// <returns>The summary; all zero when nothing was recorded.</returns>
    public LatencySummary Summarize() => new(
        GetQuantileMicroseconds(0.50),
        GetQuantileMicroseconds(0.90),
        GetQuantileMicroseconds(0.99),
        GetQuantileMicroseconds(0.999),
        _total == 0 ? 0 : TicksToMicroseconds(_sum / _total),
        TicksToMicroseconds(_max),
        _total);

    /// <summary>The percentiles of <see cref="GetSpectrum"/>: the median to the maximum, as HdrHistogram and wrk2 print them.</summary>
    public static IReadOnlyList<double> SpectrumPercentiles { get; } = [0, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100];

    /// <summary>The latency at each of <see cref="SpectrumPercentiles"/>, in microseconds (all zero when empty).</summary>
    /// <returns>One entry per percentile, in order.</returns>
    public IReadOnlyList<LatencyPercentile> GetSpectrum() =>
        [.. SpectrumPercentiles.Select(p => new LatencyPercentile(p, p == 0 ? TicksToMicroseconds(MinimumTicks()) : GetQuantileMicroseconds(p / 100)))];

    private long MinimumTicks()
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] > 0)
            {
                return Math.Min(ValueOf(i), _max);
            }
        }

        return 0;
    }

    private static double TicksToMicroseconds(double ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    private static int IndexOf(long value)
    {
        if (value < LinearBuckets)
        {
            return (int)value;
        }

        // value >= 128: its top bit is at position msb >= 7; keep the 7 leading bits (64..127).
        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - SubBucketBits;
        var sub = (int)(value >> shift) - SubBuckets;
        return LinearBuckets + (shift - 1) * SubBuckets + sub;
    }

    /// <summary>The middle of bucket <paramref name="index"/>.</summary>
    private static long ValueOf(int index)
    {
        if (index < LinearBuckets)
        {
            return index;
        }

        var shift = ((index - LinearBuckets) / SubBuckets) + 1;
        var sub = ((index - LinearBuckets) % SubBuckets) + SubBuckets;
        return ((long)sub << shift) + ((1L << shift) / 2);
    }
}

/// <summary>One point of a latency spectrum.</summary>
/// <param name="Percentile">0 to 100: 99.9 is p99.9; 0 is the minimum and 100 the maximum.</param>
/// <param name="Microseconds">The latency at that percentile.</param>
public readonly record struct LatencyPercentile(double Percentile, double Microseconds);

/// <summary>Latency percentiles in microseconds.</summary>
/// <param name="P50">Median.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="P999">99.9th percentile.</param>
/// <param name="Mean">Arithmetic mean.</param>
/// <param name="Max">Largest value.</param>
/// <param name="Count">Number of values.</param>
public readonly record struct LatencySummary(double P50, double P90, double P99, double P999, double Mean, double Max, long Count);
