namespace EchoKit.LoadGenerator.Internal;

/// <summary>The counters of one run that <see cref="LoadProgress"/> reads; each property sums per-connection fields.</summary>
internal interface ILiveLoadCounters
{
    int MessageSize { get; }

    long Messages { get; }

    long Sent { get; }

    long Errors { get; }

    long Lost { get; }
}

/// <summary>
/// Live counters of an echo run, TCP or UDP: the connections or flows that could not be opened
/// (<see cref="OpenErrors"/>), then those that were, once they are.
/// </summary>
internal sealed class LiveLoadCounters : ILiveLoadCounters
{
    private volatile EchoLoadStream[] _streams = [];

    private LiveLoadCounters(int messageSize) => MessageSize = messageSize;

    public int MessageSize { get; }

    /// <summary>The connections or flows that could not be opened.</summary>
    public ErrorCollector OpenErrors { get; } = new();

    public long Messages => Sum(static s => s.VerifiedSoFar);

    public long Sent => Sum(static s => s.SentSoFar);

    public long Errors => OpenErrors.Count + Sum(static s => s.Error is null ? 0 : 1);

    public long Lost => Sum(static s => s.LostSoFar);

    /// <summary>New counters for a run of <paramref name="messageSize"/>-byte messages, read through <paramref name="progress"/> when given.</summary>
    public static LiveLoadCounters AttachTo(LoadProgress? progress, int messageSize)
    {
        var counters = new LiveLoadCounters(messageSize);
        progress?.Attach(counters);
        return counters;
    }

    public void SetStreams(IEnumerable<EchoLoadStream> streams) => _streams = [.. streams];

    private long Sum(Func<EchoLoadStream, long> counter)
    {
        long sum = 0;
        foreach (var stream in _streams)
        {
            sum += counter(stream);
        }

        return sum;
    }
}
