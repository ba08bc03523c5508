using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A slot's life: the loop of its sends and receives (<see cref="Slot.Run"/>), with the duty hand-off; what a receive
/// yields is in UdpEchoListener.Receive.cs, and what the fault rules do with it in UdpEchoListener.Faults.cs.
/// </summary>
internal sealed partial class UdpEchoListener
{
    /// <summary>
    /// One datagram in flight: a buffer of <see cref="UdpEchoPolicy.MaxDatagramSize"/> bytes, received into and echoed
    /// from. A slot either holds the receive duty (<see cref="_hasDuty"/>), or sends without it (its send went pending,
    /// or a fault held its datagram back), or is idle.
    /// </summary>
    private sealed partial class Slot : SocketAsyncEventArgs, IThreadPoolWorkItem
    {
        private readonly UdpEchoListener _listener;
        private readonly UdpSource _source;
        private readonly byte[] _buffer;
        private bool _sending;
        private bool _hasDuty;
        private int _length;
        private EndPoint? _sendTo;
        private RetryBackoff? _retry;

        public Slot(UdpEchoListener listener)
            : base(unsafeSuppressExecutionContextFlow: true)
        {
            _listener = listener;
            _source = new UdpSource(listener._socket.AddressFamily);
            _buffer = GC.AllocateUninitializedArray<byte>(listener._policy.MaxDatagramSize, pinned: true);
            SetBuffer(_buffer, 0, _buffer.Length);
        }

        public UdpCounters Counters;

        /// <summary>An idle slot is given the receive duty (under the listener's lock, before it is queued).</summary>
        public void TakeDuty() => _hasDuty = true;

        void IThreadPoolWorkItem.Execute()
        {
            try
            {
                Run();
            }
            catch (Exception ex)
            {
                Fail(ex);
            }
        }

        protected override void OnCompleted(SocketAsyncEventArgs e)
        {
            // An exception escaping an I/O completion would take the process down; contain it to this slot.
            try
            {
                if (_sending)
                {
                    CompleteSend();
                    Run();
                }
                else if (CompleteReceive())
                {
                    Run();
                }
            }
            catch (Exception ex)
            {
                Fail(ex);
            }
        }

        /// <summary>
        /// Issues operations until one is pending: the sends of its datagram, then (holding the receive duty, or taking
        /// it back when nobody holds it) receives. Synchronous completions are handled here, never by recursion.
        /// </summary>
        private void Run()
        {
            var socket = _listener._socket;
            var synchronousCompletions = 0;
            while (true)
            {
                if (_listener._closed)
                {
                    if (_sending && _sentOne)
                    {
                        // The first copy of a duplicated datagram went out: it was echoed.
                        Volatile.Write(ref Counters.Echoed, Counters.Echoed + 1);
                    }

                    TakeReleaseAfterSend()?.Release();
                    _listener.SlotEnded();
                    return;
                }

                if (!_sending && !_hasDuty)
                {
                    // A send made without the receive duty is over: take the duty if nobody holds it, else go idle.
                    if (!_listener.SendDone(this))
                    {
                        return;
                    }

                    _hasDuty = true;
                }

                var sending = _sending;
                var withDuty = _hasDuty;
                IUdpHeldDatagram? after = null;
                bool pending;
                try
                {
                    // SocketFlags is also what the last receive reported (Truncated); passed back in, it would
                    // change what the next operation does (MSG_TRUNC).
                    SocketFlags = SocketFlags.None;
                    if (sending)
                    {
                        // Read before the send is issued: once it is, its completion may run this slot on another thread.
                        after = TakeReleaseAfterSend();
                        _hasDuty = false;

                        // No endpoint: the runtime sends to the raw source address the receive left in these args.
                        RemoteEndPoint = _sendTo;
                        SetBuffer(0, _length);
                        pending = socket.SendToAsync(this);
                    }
                    else
                    {
                        _source.Reset();
                        _sendTo = null;
                        RemoteEndPoint = _source;
                        SetBuffer(0, _buffer.Length);
                        pending = socket.ReceiveFromAsync(this);
                    }
                }
                catch (ObjectDisposedException)
                {
                    after?.Release();
                    _listener.SlotEnded();
                    return;
                }
                catch
                {
                    // Fail takes it from here; the slot must still know whether it holds the receive duty.
                    after?.Release();
                    _hasDuty = withDuty;
                    throw;
                }

                // A datagram of the same source that reorder held back goes out after this one.
                after?.Release();
                if (pending)
                {
                    if (sending && withDuty)
                    {
                        _listener.HandOffReceiving();
                    }

                    return;
                }

                if (sending)
                {
                    _hasDuty = withDuty;
                    CompleteSend();
                }
                else if (!CompleteReceive())
                {
                    return;
                }

                if (++synchronousCompletions == ServerContext.MaxSynchronousCompletions)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                    return;
                }
            }
        }

        /// <summary>A send completed: counts it, and leaves <see cref="_sending"/> set while a <c>duplicate</c> copy is still to go.</summary>
        private void CompleteSend()
        {
            if (SocketError == SocketError.Success)
            {
                Counters.BytesSent += BytesTransferred;
                _sentOne = true;
            }

            if (--_copies > 0)
            {
                return;
            }

            _sending = false;
            if (_sentOne)
            {
                _sentOne = false;

                // Once per datagram, duplicated or not; released after the bytes, so a reader that sees the datagram
                // counted sees its bytes (UdpCounters.Read).
                Volatile.Write(ref Counters.Echoed, Counters.Echoed + 1);
            }
            else if (!_listener._closed)
            {
                // For example no route back to a forged source; the datagram is lost, receiving carries on.
                Counters.SendFailed++;
                LogDropped(_length, "the echo could not be sent");
            }
        }
    }
}
