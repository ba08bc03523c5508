using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// One fault rule's part in a stream connection's echo (see docs/FAULTS.md), built per faulted connection from its
/// rule by its entry in <see cref="FaultTypes"/>; the same for every stream transport, since the one pump applies it
/// (<c>StreamConnection.FaultShaping.cs</c>). Each hook does nothing unless a stage overrides it, and
/// <see cref="ConnectionFaults"/> calls them in turn: at start (<see cref="OnStart"/>), to the received bytes before
/// anything is echoed (<see cref="OnReceived"/>), to each piece of the echo (<see cref="SizePiece"/>,
/// <see cref="PieceDue"/>), after the echo (<see cref="StopsReading"/>) and at the client's close
/// (<see cref="CloseDelay"/>). Draws come from the connection's one <see cref="FaultRandom"/>, in that order, so a
/// seed replays the same run. A stage holds only its own state; the pump alone calls it.
/// </summary>
internal abstract class StreamFaultStage(EchoFault rule)
{
    /// <summary>The rule this stage was built from.</summary>
    public EchoFault Rule { get; } = rule;

    /// <summary>
    /// Where the stage sits in <see cref="OnReceived"/>'s chain: lower first, equal in the rules' order. A stage that
    /// discards bytes goes before one that counts them, and one that changes bytes goes last, on what will be echoed.
    /// </summary>
    public virtual int ReceiveOrder => 0;

    /// <summary>Refused at accept with this close, before any byte (<c>refuse</c>); <see langword="null"/> otherwise.</summary>
    public virtual EchoFaultClose? Refuses => null;

    /// <summary>When the connection starts (for TLS: after its handshake): its end, at once or after a time.</summary>
    public virtual void OnStart(ref FaultDeadline deadline)
    {
    }

    /// <summary>Bytes arrived and nothing of them is echoed yet: a stage may echo fewer, end the connection after them, or change them.</summary>
    public virtual void OnReceived(ref FaultedEcho echo, ref FaultRandom random)
    {
    }

    /// <summary>The next piece of the echo is at most <paramref name="size"/> bytes: a stage may make it smaller.</summary>
    public virtual int SizePiece(int size, ref FaultRandom random) => size;

    /// <summary>
    /// When a piece of <paramref name="bytes"/> may be written (a <see cref="Stopwatch"/> timestamp; 0 = now);
    /// <paramref name="first"/>: the echo's first piece, whose bytes arrived at <paramref name="now"/>.
    /// </summary>
    public virtual long PieceDue(int bytes, bool first, long now, ref FaultRandom random) => 0;

    /// <summary>After an echo, with <paramref name="bytesRead"/> read so far: whether reading stops for good.</summary>
    public virtual bool StopsReading(long bytesRead) => false;

    /// <summary>How long the server's close is held back once the client closed, in <see cref="Stopwatch"/> ticks.</summary>
    public virtual long CloseDelay => 0;

    /// <summary>How long the connection's first step (the first read, the greeting, a proxy's upstream connect) is held back after it started, in <see cref="Stopwatch"/> ticks.</summary>
    public virtual long OpenDelay => 0;
}

/// <summary>The received bytes of one echo as the stages shape them: the first <see cref="Count"/> are echoed.</summary>
internal ref struct FaultedEcho(Span<byte> received)
{
    /// <summary>The bytes as received; a stage may change those that will be echoed.</summary>
    public Span<byte> Bytes = received;

    /// <summary>How many of <see cref="Bytes"/> are echoed.</summary>
    public int Count = received.Length;

    /// <summary>Whether the connection ends after this echo, and how.</summary>
    public FaultEnd End;
}

/// <summary>How a fault ends a connection after an echo.</summary>
internal enum FaultEnd
{
    None,

    /// <summary>FIN behind the echo, then drain, as a stop does (TLS: close_notify first).</summary>
    Close,

    /// <summary>RST: linger 0, then close.</summary>
    Reset,
}

/// <summary>A connection's end decided at start: at once, or after a time; a reset wins over a close.</summary>
internal struct FaultDeadline
{
    /// <summary>Stopwatch ticks from start to the end; 0 with <see cref="AtOnce"/> or without a deadline.</summary>
    public long After;

    /// <summary>The end is RST (otherwise FIN, as a stop closes).</summary>
    public bool Resets;

    /// <summary>RST before the pump's first step.</summary>
    public bool AtOnce;

    public void ResetAfter(long after)
    {
        Resets = true;
        AtOnce = after == 0;
        After = after;
    }

    public void CloseAfter(long after)
    {
        if (!Resets)
        {
            After = after;
        }
    }
}
