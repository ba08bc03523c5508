using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// The fault rules on the TCP/Unix pump (see docs/FAULTS.md). A connection without faults never gets here: the pump
/// tests <see cref="StreamConnection.Faults"/> once per receive. A delayed or sliced echo keeps the one buffer it was
/// received into, so the memory bound of one receive buffer per connection holds.
/// </summary>
internal sealed partial class SocketConnection
{
    /// <summary>When a parked pump is due to write (a <see cref="Stopwatch"/> timestamp).</summary>
    private long _faultWakeAt;

    /// <summary>Called by the connection's fault timer at its deadline: RST (<c>reset:after=</c>) or FIN (<c>blackhole:close-after=</c>).</summary>
    public void EndByFault(bool reset)
    {
        if (!reset)
        {
            BeginGracefulClose(ConnectionCloseReason.FaultInjected);
            return;
        }

        if (TryDecide(ConnectionCloseReason.FaultInjected, SocketError.Success))
        {
            Faults!.ResetOnClose = true;
            SetAbortiveClose();
        }

        Abort(ConnectionCloseReason.FaultInjected);
    }

    /// <summary>The fault timer's wake-up of a parked pump: the held echo (or its next piece) is written now.</summary>
    public void ResumeAfterFault()
    {
        try
        {
            Run(ConnectionPhase.FaultSend);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    protected override void OnAborted()
    {
        // Under the set's lock (or the fault timer's gate): never run the pump here, hand it to the thread pool.
        if (Faults?.Wake() == true)
        {
            _resume = ConnectionPhase.FaultSend;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    protected override void CloseTransport(ConnectionCloseReason reason)
    {
        if (Faults is { } faults && faults.End())
        {
            SetAbortiveClose();
        }

        base.CloseTransport(reason);
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
        if (faults.Blackhole)
        {
            _sendCount = 0;
            return NextAfterEcho();
        }

        if (faults.LimitLeft >= 0)
        {
            if (_sendCount >= faults.LimitLeft)
            {
                _sendCount = (int)faults.LimitLeft;
                if (TryDecide(ConnectionCloseReason.FaultInjected, SocketError.Success))
                {
                    faults.ResetOnClose = faults.LimitResets;
                }
            }

            faults.LimitLeft -= _sendCount;
            if (_sendCount == 0)
            {
                return BeginDrain();
            }
        }

        faults.PieceLeft = faults.NextPiece(_sendCount);
        if (faults.HasLatency)
        {
            _faultWakeAt = faults.LatencyDue(Stopwatch.GetTimestamp());
            return ConnectionPhase.FaultDelay;
        }

        return ConnectionPhase.FaultSend;
    }

    /// <summary>A write of (part of) a piece completed: the rest of the piece, the next piece after the slice pause, or the usual next step.</summary>
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
            faults.PieceLeft = faults.NextPiece(_sendCount);
            if (faults.SliceDelay > 0)
            {
                _faultWakeAt = Stopwatch.GetTimestamp() + faults.SliceDelay;
                return ConnectionPhase.FaultDelay;
            }

            return ConnectionPhase.FaultSend;
        }

        return NextAfterEcho();
    }

    /// <summary>Parks the pump until <see cref="_faultWakeAt"/>; <see langword="false"/> when it should write at once instead.</summary>
    private bool ParkForFault()
    {
        SetPhase(ConnectionPhase.FaultDelay);
        return Faults!.Park(_faultWakeAt);
    }
}
