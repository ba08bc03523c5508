namespace EchoKit.LoadGenerator;

/// <summary>What a pipelined echo load measured (counts cover the measurement window only, except errors).</summary>
public sealed class EchoLoadResult
{
    /// <summary>Messages fully echoed and verified within the measurement window.</summary>
    public long Messages { get; init; }

    /// <summary>Payload bytes echoed within the measurement window (each byte counted once).</summary>
    public long Bytes { get; init; }

    /// <summary>The real length of the measurement window.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Round-trip latency of each message, from the moment it was handed to the socket to the moment its last byte came back.</summary>
    public LatencySummary Latency { get; init; }

    /// <summary>Connections that could be opened.</summary>
    public int ConnectionsOpened { get; init; }

    /// <summary>Connections that failed to open, failed, were closed by the server, or did not drain in time.</summary>
    public long Errors { get; init; }

    /// <summary>Echoed messages (over the whole run, warm-up and drain included) whose bytes differ from what was sent.</summary>
    public long Mismatches { get; init; }

    /// <summary>Messages verified over the whole run, warm-up and drain included.</summary>
    public long MessagesVerified { get; init; }

    /// <summary>The first error seen, for diagnostics; <see langword="null"/> when none.</summary>
    public string? FirstError { get; init; }

    /// <summary>Messages per second within the window.</summary>
    public double MessagesPerSecond => Elapsed > TimeSpan.Zero ? Messages / Elapsed.TotalSeconds : 0;

    /// <summary>Echoed MiB per second within the window (payload in one direction).</summary>
    public double MiBPerSecond => Elapsed > TimeSpan.Zero ? Bytes / 1048576.0 / Elapsed.TotalSeconds : 0;
}

/// <summary>What a connection-churn load measured.</summary>
public sealed class ChurnResult
{
    /// <summary>Connections opened, echoed, verified and closed within the measurement window.</summary>
    public long Connections { get; init; }

    /// <summary>The real length of the measurement window.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Time from starting to connect to the verified echo, per connection.</summary>
    public LatencySummary Latency { get; init; }

    /// <summary>Connections that failed in any way (whole run).</summary>
    public long Errors { get; init; }

    /// <summary>Echoes whose bytes differ from what was sent (whole run).</summary>
    public long Mismatches { get; init; }

    /// <summary>Connections completed over the whole run, warm-up included.</summary>
    public long ConnectionsVerified { get; init; }

    /// <summary>The first error seen; <see langword="null"/> when none.</summary>
    public string? FirstError { get; init; }

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
