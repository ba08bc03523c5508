using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// The fault rules on the pump, for every stream transport (see docs/FAULTS.md): a TLS connection's pieces are its
/// own records, and corrupt flips bits of the plaintext before it is encrypted (the client sees valid TLS carrying
/// wrong bytes). A connection without faults never gets here: the pump tests <see cref="Faults"/> once per receive. A
/// delayed or sliced echo keeps the one buffer it was received into, so the memory bound of one receive buffer per
/// connection holds; a parked pump holds no thread and nothing is pending on its transport.
/// </summary>
internal sealed partial class StreamConnection
{
    /// <summary>When a parked pump is due to go on (a <see cref="Stopwatch"/> timestamp; <see cref="long.MaxValue"/>: only a close wakes it).</summary>
    private long _faultWakeAt;

    /// <summary>What a parked pump does when it wakes: write (the held echo, its next piece) or close (a held close, stalled reads).</summary>
    private ConnectionPhase _afterPark = ConnectionPhase.FaultSend;

    /// <summary>
    /// The fault clock's wake-up of a parked pump, on the clock's thread: the pump goes on right here with the held
    /// echo, its next piece, or the held close. That is a non-blocking send (or close) and at most a few synchronous
    /// completions before the pump parks or waits again, so the clock is not held up, and the echo leaves without a
    /// thread-pool hop, which on a busy machine added milliseconds to its delay.
    /// </summary>
    public void ResumeAfterFault()
    {
        try
        {
            Run(_afterPark);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// The close sequence raises <see cref="EchoServer.ConnectionClosed"/>, user code that may be slow: never on the
    /// fault clock's thread (a resumed pump that ends), which every fault of the process waits on.
    /// </summary>
    private void CloseOffTheClock()
    {
        if (FaultClock.IsClockThread)
        {
            _resume = ConnectionPhase.Close;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return;
        }

        Close();
    }

    /// <summary>After <see cref="Abort"/> closed the transport: a pump parked by a fault must wake to see it.</summary>
    private void WakeParkedPump()
    {
        // Under the set's lock (or the fault clock's gate): never run the pump here, hand it to the thread pool.
        if (Faults?.Wake() == true)
        {
            // A held echo goes on to fail on the closed transport (so its reason and counts are as for any send); a held close closes.
            _resume = _afterPark == ConnectionPhase.FaultSend ? ConnectionPhase.FaultSend : ConnectionPhase.Close;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Once per faulted connection, when it starts: the metric, the timer, and a reset due at once.</summary>
    private void StartFaults(ConnectionFaults faults)
    {
        Context.Metrics.FaultsApplied(Listener, faults.Rules);
        faults.Attach(this);
        if (faults.ResetsAtOnce)
        {
            // Before the pump's first step, so not one byte is echoed: the first operation finds the socket closed.
            // The pump has not started, so nothing else can close the connection meanwhile.
            EndByFault(reset: true);
        }
    }

    /// <summary>A receive of <c>_sendCount</c> bytes completed on a faulted connection: what to echo, and when.</summary>
    private ConnectionPhase OnFaultedReceive(ConnectionFaults faults)
    {
        // Once per received byte, before the first piece: a piece written again after a partial send is not changed twice.
        var echo = faults.Receive(Buffer.AsSpan(_sendOffset, _sendCount));
        _sendCount = echo.Count;
        if (echo.End != FaultEnd.None && TryDecide(ConnectionCloseReason.FaultInjected, SocketError.Success))
        {
            faults.ResetOnClose = echo.End == FaultEnd.Reset;
        }

        if (_sendCount == 0)
        {
            return echo.End == FaultEnd.None ? AfterFaultedEcho(faults) : BeginDrain();
        }

        return ParkUntil(faults.NextPiece(_sendCount, first: true, Stopwatch.GetTimestamp()));
    }

    /// <summary>A write of (part of) a piece completed: the rest of the piece, the next piece when it is due, or the usual next step.</summary>
    private ConnectionPhase OnFaultSent(int transferred)
    {
        var faults = Faults!;
        BytesSent += transferred;
        Touch();
        _sendOffset += transferred;
        _sendCount -= transferred;
        faults.PieceLeft -= transferred;
        if (faults.PieceLeft > 0)
        {
            return ConnectionPhase.FaultSend;
        }

        if (_sendCount > 0)
        {
            return ParkUntil(faults.NextPiece(_sendCount, first: false, Stopwatch.GetTimestamp()));
        }

        return AfterFaultedEcho(faults);
    }

    /// <summary>The next piece goes at <paramref name="due"/> (0: now).</summary>
    private ConnectionPhase ParkUntil(long due) => due > 0 ? Park(due, ConnectionPhase.FaultSend) : ConnectionPhase.FaultSend;

    /// <summary>
    /// After an echo of a faulted connection: as usual, unless stall-reads has read its bytes, in which case the pump
    /// stops reading for good (holding no buffer) and only a close (a time limit, stop, the client's reset) ends it.
    /// </summary>
    private ConnectionPhase AfterFaultedEcho(ConnectionFaults faults)
    {
        if (!faults.ReadsStalled || IsClosing)
        {
            return NextAfterEcho();
        }

        ReleaseBuffer();
        return Park(long.MaxValue, ConnectionPhase.Close);
    }

    /// <summary>
    /// The client closed and every byte was echoed: our side ends too (TLS: close_notify first; a socket's FIN comes
    /// with its close), at once or, held back by a fault, after its delay; an abort meanwhile closes at once and leaves
    /// close_notify out.
    /// </summary>
    private ConnectionPhase EndStream()
    {
        _afterCloseSend = ConnectionPhase.Close;
        return Faults is { CloseDelay: > 0 } faults ? Park(Stopwatch.GetTimestamp() + faults.CloseDelay, ConnectionPhase.CloseSend) : ConnectionPhase.CloseSend;
    }

    /// <summary><paramref name="first"/>, the connection's first step, or, under <c>slow-open</c>, a park that takes it after the delay.</summary>
    private ConnectionPhase OpenAfterDelay(ConnectionPhase first) =>
        Faults is { OpenDelay: > 0 } faults ? Park(Stopwatch.GetTimestamp() + faults.OpenDelay, first) : first;

    /// <summary>The next step parks the pump until <paramref name="wakeAt"/>, then goes on with <paramref name="then"/>.</summary>
    private ConnectionPhase Park(long wakeAt, ConnectionPhase then)
    {
        _faultWakeAt = wakeAt;
        _afterPark = then;
        return ConnectionPhase.FaultDelay;
    }

    /// <summary>Parks the pump until <see cref="_faultWakeAt"/>; <see langword="false"/> when it should go on at once instead.</summary>
    private bool ParkForFault()
    {
        SetPhase(ConnectionPhase.FaultDelay);
        return Faults!.Park(_faultWakeAt);
    }
}
