using System.Diagnostics;

namespace EchoKit.Benchmarks.Faults;

/// <summary>Percentiles (nearest rank) of a set of samples in milliseconds.</summary>
internal sealed class Distribution
{
    private readonly double[] _sorted;

    public Distribution(IEnumerable<double> milliseconds)
    {
        _sorted = [.. milliseconds];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double P50 => Percentile(50);

    public double P90 => Percentile(90);

    public double P99 => Percentile(99);

    public double Max => _sorted.Length == 0 ? double.NaN : _sorted[^1];

    public double Min => _sorted.Length == 0 ? double.NaN : _sorted[0];

    public double Mean => _sorted.Length == 0 ? double.NaN : _sorted.Average();

    public static double ToMilliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public double Percentile(double percent)
    {
        if (_sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(percent / 100 * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }
}
