namespace EchoKit.LoadGenerator.Internal;

/// <summary>What the units of one load (connections, churn workers, UDP flows) add up to for its result.</summary>
internal sealed class LoadTally
{
    public LatencyHistogram Histogram { get; } = new();

    public long Verified { get; private set; }

    public long Mismatches { get; private set; }

    public long Errors { get; private set; }

    public string? FirstError { get; private set; }

    /// <summary>Adds one unit's latency and counts.</summary>
    public void Add(LatencyHistogram histogram, long verified, long mismatches)
    {
        Histogram.Add(histogram);
        Verified += verified;
        Mismatches += mismatches;
    }

    /// <summary>Counts failures; the first description given is kept for the result.</summary>
    public void AddErrors(long count, string? description)
    {
        Errors += count;
        FirstError ??= description;
    }
}
