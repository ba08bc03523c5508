using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The datagrams a <see cref="UdpFaultPath"/> holds back (<c>latency</c>, <c>reorder</c>), each in its holder's buffer,
/// with one wake-up on the <see cref="FaultClock"/> for the earliest of them. A held datagram holds its slot, so at most
/// <see cref="UdpEchoOptions.DatagramsInFlight"/> are held; when every slot is held the listener receives nothing more
/// until one is released, and what arrives meanwhile waits in the kernel's receive buffer (dropped by the kernel when
/// that is full, as on a congested link). That keeps memory at the slots' buffers and never skips a fault: under
/// <c>latency</c> every echo is delayed, and the rate is at most DatagramsInFlight per delay. When the listener stops,
/// held datagrams are dropped (counted in <see cref="EchoServerStatistics.DatagramsFaultDropped"/>), so a stop never
/// waits for them. Everything here runs under the path's lock.
/// </summary>
internal sealed partial class UdpFaultPath : IFaultClockTarget, IThreadPoolWorkItem
{
    private readonly Held[] _held;
    private int _heldCount;
    private long _armedFor = long.MaxValue;

    /// <summary>The listener stopped: every held datagram is dropped and nothing more is held. Returns how many were dropped.</summary>
    public int Stop()
    {
        IUdpHeldDatagram[] dropped;
        lock (_gate)
        {
            _stopped = true;
            dropped = new IUdpHeldDatagram[_heldCount];
            for (var i = 0; i < _heldCount; i++)
            {
                dropped[i] = _held[i].Datagram;
                _held[i] = default;
            }

            _heldCount = 0;
        }

        foreach (var datagram in dropped)
        {
            datagram.DropAtStop();
        }

        return dropped.Length;
    }

    /// <summary>The clock's wake-up: the release (a send per due datagram) runs on the thread pool, with this object as its work item.</summary>
    void IFaultClockTarget.OnClock(long token) => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    void IThreadPoolWorkItem.Execute() => OnTimer();

    /// <summary>When a held datagram may go: its latency's due time, and, while it waits for its source's next datagram, not before its hold expires.</summary>
    private static long ReadyAt(in Held held) => held.HoldUntil == 0 ? held.Due : Math.Max(held.Due, held.HoldUntil);

    /// <summary>
    /// Holds <paramref name="datagram"/> (from source entry <paramref name="entry"/>) for <paramref name="delay"/> and,
    /// when <paramref name="waitForNext"/> is above zero, until its source's next datagram or that long at most.
    /// </summary>
    private void Hold(IUdpHeldDatagram datagram, int entry, long now, long delay, long waitForNext, int copies)
    {
        var holdUntil = waitForNext > 0 ? now + waitForNext : 0;
        if (holdUntil != 0)
        {
            _sources!.HeldAt(entry) = datagram;
        }

        datagram.Hold(copies);
        _held[_heldCount++] = new Held(datagram, now + delay, holdUntil, holdUntil != 0 ? entry : -1);
        ArmFor(ReadyAt(_held[_heldCount - 1]), now);
    }

    /// <summary>
    /// The datagram now arriving from source entry <paramref name="entry"/> overtakes the one of that source waiting for
    /// it, if any (<paramref name="overtakes"/>): returns the overtaken one when it may go now (the caller releases it),
    /// else <see langword="null"/>.
    /// </summary>
    private IUdpHeldDatagram? Overtake(int entry, long now, out bool overtakes)
    {
        ref var waiting = ref _sources!.HeldAt(entry);
        overtakes = waiting is not null;
        if (waiting is not { } previous)
        {
            return null;
        }

        waiting = null;
        var i = IndexOf(previous);
        return i >= 0 ? Overtaken(i, now, release: false) : null;
    }

    /// <summary>No rule is left to overtake a waiting datagram: each waits no longer.</summary>
    private void ReleaseWaiting(long now)
    {
        for (var i = _heldCount - 1; i >= 0; i--)
        {
            if (_held[i].HoldUntil != 0)
            {
                Overtaken(i, now);
            }
        }
    }

    private int IndexOf(IUdpHeldDatagram datagram)
    {
        for (var i = 0; i < _heldCount; i++)
        {
            if (ReferenceEquals(_held[i].Datagram, datagram))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Held datagram <paramref name="i"/> waits for its source no longer. If its latency is due, it leaves the list and
    /// is released (or, without <paramref name="release"/>, returned for the caller to release); otherwise it stays until then.
    /// </summary>
    private IUdpHeldDatagram? Overtaken(int i, long now, bool release = true)
    {
        ref var held = ref _held[i];
        Unlink(held);
        held.HoldUntil = 0;
        held.Source = -1;
        if (held.Due > now)
        {
            ArmFor(held.Due, now);
            return null;
        }

        var datagram = held.Datagram;
        RemoveAt(i);
        if (release)
        {
            datagram.Release();
        }

        return datagram;
    }

    private void Unlink(in Held held)
    {
        if (held.Source >= 0)
        {
            ref var heldAt = ref _sources!.HeldAt(held.Source);
            if (ReferenceEquals(heldAt, held.Datagram))
            {
                heldAt = null;
            }
        }
    }

    private void RemoveAt(int i)
    {
        _held[i] = _held[--_heldCount];
        _held[_heldCount] = default;
    }

    /// <summary>Schedules a wake-up for <paramref name="due"/> if that is earlier than the one scheduled; the clock never wakes early.</summary>
    private void ArmFor(long due, long now)
    {
        if (due >= _armedFor)
        {
            return;
        }

        _armedFor = due;
        FaultClock.Schedule(this, 0, due);
    }

    /// <summary>Releases every held datagram that is due, and sets the timer for the next one.</summary>
    private void OnTimer()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var next = long.MaxValue;
            for (var i = _heldCount - 1; i >= 0; i--)
            {
                var ready = ReadyAt(_held[i]);
                if (ready <= now)
                {
                    var datagram = _held[i].Datagram;
                    Unlink(_held[i]);
                    RemoveAt(i);
                    datagram.Release();
                }
                else
                {
                    next = Math.Min(next, ready);
                }
            }

            _armedFor = long.MaxValue;
            if (next != long.MaxValue)
            {
                ArmFor(next, now);
            }
        }
    }

    /// <summary>One held datagram: when its latency is due, until when it waits for its source's next datagram (0: it does not), and its source's entry (-1: none).</summary>
    private struct Held(IUdpHeldDatagram datagram, long due, long holdUntil, int source)
    {
        public IUdpHeldDatagram Datagram = datagram;
        public long Due = due;
        public long HoldUntil = holdUntil;
        public int Source = source;
    }
}
