using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

/// <summary>What a timed load measured: the real measurement window, the latency, and what went wrong.</summary>
public abstract class LoadResult
{
    private protected LoadResult(TimeSpan elapsed, LoadTally tally)
    {
        Elapsed = elapsed;
        Latency = tally.Histogram.Summarize();
        LatencySpectrum = tally.Histogram.GetSpectrum();
        Errors = tally.Errors;
        Mismatches = tally.Mismatches;
        FirstError = tally.FirstError;
    }

    /// <summary>The real length of the measurement window.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Latency within the window: per message (or datagram) its round trip; per churned connection, connect to verified echo.</summary>
    public LatencySummary Latency { get; init; }

    /// <summary>The latency at each of <see cref="LatencyHistogram.SpectrumPercentiles"/>, minimum to maximum.</summary>
    public IReadOnlyList<LatencyPercentile> LatencySpectrum { get; init; }

    /// <summary>Connections (or UDP flows) that could not be opened or that failed; over the whole run.</summary>
    public long Errors { get; init; }

    /// <summary>Echoes whose bytes differ from what was sent; over the whole run, warm-up and drain included.</summary>
    public long Mismatches { get; init; }

    /// <summary>The first error seen, for diagnostics; <see langword="null"/> when none.</summary>
    public string? FirstError { get; init; }
}

/// <summary>What an echo load of messages (TCP) or datagrams (UDP) measured.</summary>
public abstract class EchoMessagesResult : LoadResult
{
    private protected EchoMessagesResult(TimeSpan elapsed, LoadTally tally, long messages, int messageSize)
        : base(elapsed, tally)
    {
        Messages = messages;
        Bytes = messages * messageSize;
        MessagesVerified = tally.Verified;
    }

    /// <summary>Messages (or datagrams) fully echoed and verified within the measurement window.</summary>
    public long Messages { get; init; }

    /// <summary>Payload bytes echoed within the measurement window (each byte counted once).</summary>
    public long Bytes { get; init; }

    /// <summary>Messages (or datagrams) verified over the whole run, warm-up and drain included.</summary>
    public long MessagesVerified { get; init; }

    /// <summary>Messages per second within the window.</summary>
    public double MessagesPerSecond => Elapsed > TimeSpan.Zero ? Messages / Elapsed.TotalSeconds : 0;

    /// <summary>Echoed MiB per second within the window (payload in one direction).</summary>
    public double MiBPerSecond => Elapsed > TimeSpan.Zero ? Bytes / 1048576.0 / Elapsed.TotalSeconds : 0;
}

/// <summary>What a pipelined echo load over TCP measured (counts cover the measurement window only, except errors).</summary>
public sealed class EchoLoadResult : EchoMessagesResult
{
    internal EchoLoadResult(TimeSpan elapsed, LoadTally tally, long messages, int messageSize)
        : base(elapsed, tally, messages, messageSize)
    {
    }

    /// <summary>Connections that could be opened.</summary>
    public int ConnectionsOpened { get; init; }

    /// <summary>
    /// With <see cref="EchoLoadOptions.Reconnect"/>: messages sent on a connection the server then closed or reset
    /// before echoing them whole, over the whole run; each is one failed echo. A close between echoes is not one.
    /// </summary>
    public long FailedEchoes { get; init; }

    /// <summary>With <see cref="EchoLoadOptions.Reconnect"/>: connections opened again after the server ended one.</summary>
    public long Reconnections { get; init; }

    /// <summary>With <see cref="EchoLoadOptions.Reconnect"/>: connection attempts that failed (a server down, refusing), retried.</summary>
    public long FailedConnects { get; init; }

    /// <summary>
    /// With <see cref="EchoLoadOptions.ReadGreeting"/>: how many opened connections (reconnections included) got each distinct greeting (its line
    /// end removed), so a test of a balancer sees the spread; empty otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, int> Greetings { get; init; } = new Dictionary<string, int>();
}

/// <summary>What a connection-churn load measured.</summary>
public sealed class ChurnResult : LoadResult
{
    internal ChurnResult(TimeSpan elapsed, LoadTally tally)
        : base(elapsed, tally) => ConnectionsVerified = tally.Verified;

    /// <summary>Connections opened, echoed, verified and closed within the measurement window.</summary>
    public long Connections { get; init; }

    /// <summary>Connections completed over the whole run, warm-up included.</summary>
    public long ConnectionsVerified { get; init; }

    /// <summary>Connections per second within the window.</summary>
    public double ConnectionsPerSecond => Elapsed > TimeSpan.Zero ? Connections / Elapsed.TotalSeconds : 0;
}

/// <summary>What a non-reading client load did.</summary>
public sealed class NoReadResult
{
    /// <summary>Connections that could be opened.</summary>
    public int ConnectionsOpened { get; init; }

    /// <summary>Bytes the kernel accepted from the client, all connections together.</summary>
    public long BytesSent { get; init; }

    /// <summary>Connections that sent all of <see cref="NoReadOptions.BytesPerConnection"/> before the time ran out.</summary>
    public int ConnectionsCompleted { get; init; }

    /// <summary>Connections that failed to open or were reset by the server before the end.</summary>
    public long Errors { get; init; }

    /// <summary>The first error seen; <see langword="null"/> when none.</summary>
    public string? FirstError { get; init; }

    /// <summary>How long the clients sent.</summary>
    public TimeSpan Elapsed { get; init; }
}
