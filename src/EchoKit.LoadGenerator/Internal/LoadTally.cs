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

    /// <summary>
    /// Adds the connections or flows that could not be opened (<paramref name="openErrors"/>), then each open one's
    /// latency, counts and error (named by <paramref name="name"/> from its index in <paramref name="streams"/>);
    /// returns the messages they completed within the measurement window.
    /// </summary>
    public long AddStreams(ErrorCollector openErrors, IReadOnlyList<EchoLoadStream> streams, Func<int, string> name)
    {
        AddErrors(openErrors.Count, openErrors.First);
        long messages = 0;
        for (var i = 0; i < streams.Count; i++)
        {
            var stream = streams[i];
            Add(stream.Histogram, stream.VerifiedSoFar, stream.Mismatches);
            messages += stream.Messages;
            if (stream.Error is { } error)
            {
                AddErrors(1, $"{name(i)}: {error}");
            }
        }

        return messages;
    }

    /// <summary>Counts failures; the first description given is kept for the result.</summary>
    public void AddErrors(long count, string? description)
    {
        Errors += count;
        FirstError ??= description;
    }
}
