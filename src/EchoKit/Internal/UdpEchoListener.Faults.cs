using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>
/// The UDP fault rules on a receive slot: the slot puts its datagram through the <see cref="UdpFaultPath"/> and is what
/// the path holds when it holds the datagram back. A datagram that meets no rule never gets here: the slot tests
/// <see cref="UdpFaultPath.HasRules"/> once per datagram. A duplicated, delayed or reordered echo is sent from the
/// slot's own buffer, so nothing is copied and the memory bound of one buffer per slot holds.
/// </summary>
internal sealed partial class UdpEchoListener
{
    private sealed partial class Slot : IUdpHeldDatagram
    {
        /// <summary>Sends of this datagram still to make: 2 under <c>duplicate</c>, else 1.</summary>
        private int _copies;

        /// <summary>One of this datagram's sends succeeded (it counts as echoed once, however many copies).</summary>
        private bool _sentOne;

        /// <summary>A datagram of the same source held back by <c>reorder</c>, released once this slot's send is issued.</summary>
        private IUdpHeldDatagram? _releaseAfterSend;

        /// <inheritdoc/>
        void IUdpHeldDatagram.Hold(int copies)
        {
            // Under the path's lock, on the thread holding the receive duty: the timer cannot release this slot yet.
            _copies = copies;
            _sending = true;
            _hasDuty = false;
            _listener.HandOffReceiving();
        }

        /// <inheritdoc/>
        void IUdpHeldDatagram.Release() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

        /// <inheritdoc/>
        void IUdpHeldDatagram.DropAtStop()
        {
            _sending = false;
            Counters.FaultDropped++;
            TakeReleaseAfterSend()?.Release();
            _listener.SlotEnded();
        }

        private IUdpHeldDatagram? TakeReleaseAfterSend()
        {
            var after = _releaseAfterSend;
            _releaseAfterSend = null;
            return after;
        }

        /// <summary>The received datagram meets rules of this listener: drop it, echo it now (perhaps corrupted, perhaps twice), or hold it back.</summary>
        private bool ApplyFaults(UdpFaultPath faults)
        {
            var outcome = faults.OnDatagram(this, _source.Key, _source.SourcePort, _buffer.AsSpan(0, _length), Stopwatch.GetTimestamp(), out var copies, out var after);
            switch (outcome)
            {
                case UdpFaultOutcome.Send:
                    _copies = copies;
                    _releaseAfterSend = after;
                    _sending = true;
                    return true;
                case UdpFaultOutcome.Dropped:
                    Counters.FaultDropped++;
                    LogDropped(_length, "dropped by a fault rule");
                    return true;
                case UdpFaultOutcome.Held:
                    // Another thread may be sending it already: this slot's state is not ours to touch any more.
                    return false;
                default:
                    // Stopping: the next step sees the socket closed.
                    return true;
            }
        }
    }
}
