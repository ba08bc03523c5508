using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace EchoKit.Internal;

/// <summary>
/// The fault rules on the TLS pump (see docs/FAULTS.md), the same as on TCP (<c>SocketConnection.Faults.cs</c>) with
/// the decrypted bytes as the echo: each piece of a slice or of the bandwidth is its own <see cref="SslStream"/> write
/// (its own TLS record), corrupt flips bits of the plaintext before it is encrypted (the client sees valid TLS carrying
/// wrong bytes), a reset is RST on the socket under the TLS stream, and every other close is close_notify then FIN. The
/// faults start when the handshake has completed, so <c>reset:after=</c> and <c>blackhole:close-after=</c> count from
/// then and no fault cuts a handshake short. A parked pump awaits this object (one reusable awaitable, completed by the
/// fault timer or an abort), so a delayed echo costs no allocation and holds only its one buffer.
/// </summary>
internal sealed partial class TlsConnection : IValueTaskSource<bool>
{
    /// <summary>The parked pump's awaitable: <see langword="true"/> when the fault timer resumes it, <see langword="false"/> when an abort does.</summary>
    private ManualResetValueTaskSourceCore<bool> _park = new() { RunContinuationsAsynchronously = true };

    /// <summary>The fault timer's wake-up (off its lock): the pump goes on with the held echo, its next piece, or the held close.</summary>
    public override void ResumeAfterFault() => _park.SetResult(true);

    bool IValueTaskSource<bool>.GetResult(short token) => _park.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _park.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _park.OnCompleted(continuation, state, token, flags);

    protected override void OnAborted()
    {
        // Under the set's lock (or the fault timer's gate): the continuation runs on the thread pool, never here.
        if (Faults?.Wake() == true)
        {
            _park.SetResult(false);
        }
    }

    /// <summary>Once a faulted connection's handshake completed: the timer and its deadline, and a reset due at once.</summary>
    /// <returns>Whether to echo: <see langword="false"/> when the connection was reset at once.</returns>
    private bool StartFaults(ConnectionFaults faults)
    {
        faults.Attach(this);
        if (!faults.ResetsAtOnce)
        {
            return true;
        }

        // Before the first read, so not one byte is echoed: the client sees an established TLS session reset.
        EndByFault(reset: true);
        return false;
    }

    /// <summary>
    /// Echoes <paramref name="count"/> bytes of <paramref name="buffer"/> as the connection's faults shape them, or none
    /// (blackhole, limit reached). Returns <see langword="false"/> when the pump must end now: an abort woke it, or
    /// stall-reads stopped reading for good. Pooled: an echo that parks allocates nothing.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> EchoWithFaultsAsync(ConnectionFaults faults, byte[] buffer, int count)
    {
        var arrived = Stopwatch.GetTimestamp();
        faults.BytesRead += count;
        if (faults.Blackhole)
        {
            count = 0;
        }
        else if (faults.LimitLeft >= 0)
        {
            if (count >= faults.LimitLeft)
            {
                count = (int)faults.LimitLeft;
                if (TryDecide(ConnectionCloseReason.FaultInjected, SocketError.Success))
                {
                    faults.ResetOnClose = faults.LimitResets;
                }
            }

            faults.LimitLeft -= count;
        }

        // Once per received byte, in the plaintext, before the first piece is encrypted.
        faults.Corrupt(buffer.AsSpan(0, count));
        for (var offset = 0; offset < count;)
        {
            var piece = faults.NextPiece(count - offset);
            var due = faults.BandwidthDue(piece);
            if (offset == 0 && faults.HasLatency)
            {
                due = Math.Max(due, faults.LatencyDue(arrived));
            }
            else if (offset > 0 && faults.SliceDelay > 0)
            {
                due = Math.Max(due, Stopwatch.GetTimestamp() + faults.SliceDelay);
            }

            if (due > 0 && !await ParkAsync(faults, due).ConfigureAwait(false))
            {
                return false;
            }

            // One write per piece (a larger piece leaves in records of MaxWriteChunk, back to back).
            SetPhase(ConnectionPhase.FaultSend);
            for (var written = 0; written < piece;)
            {
                var chunk = Math.Min(piece - written, MaxWriteChunk);
                await _ssl.WriteAsync(buffer.AsMemory(offset + written, chunk)).ConfigureAwait(false);
                written += chunk;
                BytesSent += chunk;
                Touch();
            }

            offset += piece;
        }

        if (!faults.ReadsStalled || IsClosing)
        {
            return true;
        }

        // stall-reads: no read from now on, holding no buffer; only a close (a time limit, a stop's abort) ends it.
        ReleaseBuffer();
        await ParkAsync(faults, long.MaxValue).ConfigureAwait(false);
        return false;
    }

    /// <summary>slow-close: the client closed; close_notify and FIN follow after the rule's delay, or at once on an abort (which then leaves them out).</summary>
    private async ValueTask HoldCloseAsync(ConnectionFaults faults)
    {
        if (await ParkAsync(faults, Stopwatch.GetTimestamp() + faults.SlowCloseDelay).ConfigureAwait(false))
        {
            await SendCloseNotifyAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Parks the pump until <paramref name="wakeAt"/> (a <see cref="Stopwatch"/> timestamp; <see cref="long.MaxValue"/>:
    /// until an abort). Returns <see langword="false"/> when an abort woke it; <see langword="true"/> when it is due,
    /// at once if it already was (or if an abort came first, which the next operation then finds).
    /// </summary>
    private ValueTask<bool> ParkAsync(ConnectionFaults faults, long wakeAt)
    {
        // Reset before parking: the timer may complete the park before the pump awaits it.
        _park.Reset();
        SetPhase(ConnectionPhase.FaultDelay);
        return faults.Park(wakeAt) ? new ValueTask<bool>(this, _park.Version) : new ValueTask<bool>(true);
    }
}
