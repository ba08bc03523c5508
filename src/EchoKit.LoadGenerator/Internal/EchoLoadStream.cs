namespace EchoKit.LoadGenerator.Internal;

/// <summary>
/// What a pipelined TCP connection (<see cref="EchoLoadConnection"/>) and a UDP flow (<see cref="UdpLoadFlow"/>)
/// share: the number the message pattern depends on, the run, a send buffer and a send time for each of
/// <c>MessagesInFlight</c> messages, the signal that wakes the send loop, and the counts and the first error that the
/// run's progress and result add up (<see cref="LoadTally.AddStreams"/>, <see cref="LiveLoadCounters"/>).
/// </summary>
internal abstract class EchoLoadStream
{
    private long _verified;
    private string? _error;

    private protected EchoLoadStream(int id, EchoRunState run, MessagePattern pattern, int messagesInFlight)
    {
        Id = id;
        Run = run;
        Pattern = pattern;
        Size = pattern.MessageSize;
        InFlight = messagesInFlight;
        SendBuffer = GC.AllocateUninitializedArray<byte>(Size * messagesInFlight, pinned: true);
        SentAt = new long[messagesInFlight];
    }

    public LatencyHistogram Histogram { get; } = new();

    /// <summary>Messages (datagrams) echoed intact while recording.</summary>
    public long Messages { get; private protected set; }

    public long Mismatches { get; private protected set; }

    /// <summary>Messages (datagrams) verified at any time, read from any thread (a field the receive loop alone writes).</summary>
    public long VerifiedSoFar => Volatile.Read(ref _verified);

    /// <summary>Messages (datagrams) sent so far, for progress.</summary>
    public abstract long SentSoFar { get; }

    /// <summary>Datagrams declared lost so far, for progress; 0 where nothing can be lost.</summary>
    public abstract long LostSoFar { get; }

    public string? Error => Volatile.Read(ref _error);

    /// <summary>The message pattern's number of this connection or flow.</summary>
    private protected int Id { get; }

    private protected EchoRunState Run { get; }

    private protected MessagePattern Pattern { get; }

    /// <summary>Bytes per message.</summary>
    private protected int Size { get; }

    /// <summary>The most messages in flight.</summary>
    private protected int InFlight { get; }

    /// <summary>Room for <see cref="InFlight"/> messages, pinned.</summary>
    private protected byte[] SendBuffer { get; }

    /// <summary>The send timestamp of each message in flight, by slot.</summary>
    private protected long[] SentAt { get; }

    /// <summary>Set when the send loop has something to do: credits or free slots back, an error, the run stopping.</summary>
    private protected AsyncSignal Signal { get; } = new();

    /// <summary>Wakes the send loop so it sees <see cref="EchoRunState.Stopping"/>.</summary>
    public void Wake() => Signal.Set();

    /// <summary>Counts one message verified (by the receive loop only).</summary>
    private protected void CountVerified() => Volatile.Write(ref _verified, _verified + 1);

    /// <summary>Records <paramref name="message"/> as the error; false when there already was one.</summary>
    private protected bool TrySetError(string message) => Interlocked.CompareExchange(ref _error, message, null) is null;

    /// <summary>Forgets the error (a connection opened again).</summary>
    private protected void ClearError() => Volatile.Write(ref _error, null);
}
