using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// One bound UDP socket (RFC 862 over UDP): each datagram received is sent back, unchanged, to its source, unless
/// the <see cref="UdpEchoPolicy"/> drops it. <see cref="UdpEchoPolicy.DatagramsInFlight"/> slots, each a
/// <see cref="SocketAsyncEventArgs"/> with its own buffer, take turns: exactly one slot holds the receive duty and
/// loops receive → send → receive, synchronous completions included. Only when its send goes pending (a slow send)
/// does it hand the receive duty to an idle slot, so the socket keeps receiving; the slot takes the duty back, or
/// goes idle, when its send completes. One receive pending per socket is also what keeps the runtime from allocating
/// (it caches one pending-receive operation per socket), so nothing is allocated per datagram. The UDP fault rules
/// (<see cref="UdpFaults"/>, UdpEchoListener.Faults.cs) may drop, duplicate, corrupt or hold back a datagram; a held
/// one keeps its slot, which gives up the receive duty as a slow send does.
/// </summary>
internal sealed partial class UdpEchoListener : IDisposable
{
    private readonly ServerContext _context;
    private readonly UdpEchoPolicy _policy;
    private readonly Socket _socket;
    private readonly Slot[] _slots;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly Slot[] _idle;
    private readonly UdpFaults _faults;
    private int _idleCount;
    private int _active;
    private bool _noReceiver;
    private volatile bool _closed;

    private UdpEchoListener(ServerContext context, UdpEchoPolicy policy, Socket socket, IPEndPoint boundEndPoint)
    {
        _context = context;
        _policy = policy;
        _socket = socket;
        EndPoint = boundEndPoint;
        Port = boundEndPoint.Port;
        Tags = EchoListener.CreateTags(boundEndPoint, "udp");
        _slots = new Slot[policy.DatagramsInFlight];
        _faults = new UdpFaults(this, context.Faults.Seed, _slots.Length, context.Options.Udp.MaxTrackedSources, context.Metrics, Tags);
        _idle = new Slot[_slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            _slots[i] = new Slot(this);
        }
    }

    /// <summary>The endpoint actually bound (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Metric tags: <c>server.address</c>, <c>server.port</c>, <c>network.transport</c> = <c>udp</c>, <c>network.type</c>.</summary>
    public TagList Tags { get; }

    /// <summary>Completes when every slot has ended after <see cref="Dispose"/>.</summary>
    public Task Stopped => _stopped.Task;

    private int Port { get; }

    /// <summary>Binds, or throws an <see cref="IOException"/> naming the endpoint.</summary>
    public static UdpEchoListener Bind(ServerContext context, UdpEchoPolicy policy, IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any) && context.Options.DualMode)
            {
                socket.DualMode = true;
            }

            socket.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw EchoListener.BindFailed(endPoint, "UDP ", ex);
        }

        return new UdpEchoListener(context, policy, socket, (IPEndPoint)socket.LocalEndPoint!);
    }

    /// <summary>Starts receiving: the first slot takes the receive duty, the others wait idle.</summary>
    public void Start()
    {
        lock (_lock)
        {
            _active = 1;
            for (var i = 1; i < _slots.Length; i++)
            {
                _idle[_idleCount++] = _slots[i];
            }
        }

        _slots[0].TakeDuty();
        ThreadPool.UnsafeQueueUserWorkItem(_slots[0], preferLocal: false);
    }

    /// <summary>
    /// Closes the socket: the pending receive and any pending send complete at once and their slots end; datagrams
    /// held back by fault rules are dropped, so nothing waits for them.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _closed = true;
            if (_active == 0)
            {
                // Never started (a failed start), or already ended.
                Stop();
            }
        }

        _socket.Dispose();
        if (_faults.Stop() is var dropped and > 0)
        {
            UdpFaultLog.HeldDroppedAtStop(_context.Logger, dropped, EndPoint);
        }
    }

    /// <summary>The totals of every slot. Each slot writes only its own counters, so the hot path shares no cache line.</summary>
    public UdpCounters ReadCounters()
    {
        var total = default(UdpCounters);
        foreach (var slot in _slots)
        {
            total.Add(UdpCounters.Read(ref slot.Counters));
        }

        return total;
    }

    /// <summary>A slot whose send went pending (or whose datagram a fault holds back) gives the receive duty to an idle slot, so receiving goes on meanwhile.</summary>
    private void HandOffReceiving()
    {
        Slot? next = null;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            if (_idleCount > 0)
            {
                next = _idle[--_idleCount];
                _idle[_idleCount] = null!;
                _active++;
                next.TakeDuty();
            }
            else
            {
                // Every slot is sending: the next one to finish takes the duty; meanwhile the kernel queues datagrams.
                _noReceiver = true;
            }
        }

        if (next is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(next, preferLocal: false);
        }
    }

    /// <summary>A send made without the receive duty completed: returns whether its slot takes the duty (nobody holds it) or else goes idle.</summary>
    private bool SendDone(Slot slot)
    {
        lock (_lock)
        {
            if (!_closed)
            {
                if (_noReceiver)
                {
                    _noReceiver = false;
                    return true;
                }

                _idle[_idleCount++] = slot;
            }

            if (--_active == 0 && _closed)
            {
                Stop();
            }

            return false;
        }
    }

    /// <summary>A slot saw the socket closed (or was dropped at stop, held by a fault) and ends.</summary>
    private void SlotEnded()
    {
        lock (_lock)
        {
            if (--_active == 0 && _closed)
            {
                Stop();
            }
        }
    }

    private void Stop()
    {
        foreach (var slot in _slots)
        {
            slot.Dispose();
        }

        _stopped.TrySetResult();
    }

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

        /// <summary>A receive completed: consumes it; returns whether to issue the next operation now (false: this slot is done for now, or held).</summary>
        private bool CompleteReceive()
        {
            var error = SocketError;
            if (error != SocketError.Success)
            {
                return ReceiveFailed(error);
            }

            _retry?.Reset();
            var length = Math.Min(BytesTransferred, _buffer.Length);
            Counters.Received++;
            Counters.BytesReceived += length;
            if ((SocketFlags & SocketFlags.Truncated) != 0)
            {
                // Larger than MaxDatagramSize: only its start was received, and an echo must not be cut short.
                Counters.Oversized++;
                LogDropped(length, "larger than Udp.MaxDatagramSize");
                return true;
            }

            if (!_source.Captured && RemoteEndPoint is IPEndPoint made && !ReferenceEquals(made, _source))
            {
                // A runtime that made its own endpoint instead of calling UdpSource.Create: read it, and send to it.
                _source.Capture(made);
                _sendTo = made;
            }

            var policy = _listener._policy;
            if (!_source.Captured || _source.IsInvalidSender || policy.IsBlockedPort(_source.SourcePort) || _source.SourcePort == _listener.Port)
            {
                // Never answered: a forged source could otherwise loop the echo with another service (or this one).
                Counters.Blocked++;
                LogDropped(length, "blocked source");
                return true;
            }

            if (policy.RateLimiter is { } limiter && !limiter.TryTake(_source.Key))
            {
                Counters.RateLimited++;
                return true;
            }

            _length = length;
            _copies = 1;

            // Without a fitting rule: one volatile read, a reference test and a null test per datagram.
            var faults = _listener._faults;
            var rules = _listener._context.Faults.Current;
            if (!ReferenceEquals(rules, faults.Set))
            {
                faults.Take(rules);
            }

            if (faults.Fitting is not null)
            {
                return ApplyFaults(faults);
            }

            _sending = true;
            return true;
        }

        private bool ReceiveFailed(SocketError error)
        {
            if (_listener._closed || error == SocketError.OperationAborted)
            {
                _listener.SlotEnded();
                return false;
            }

            switch (error)
            {
                case SocketError.MessageSize:
                    // Windows reports a truncated datagram as an error rather than a flag.
                    Counters.Received++;
                    Counters.Oversized++;
                    return true;
                case SocketError.ConnectionReset:
                case SocketError.NetworkReset:
                case SocketError.HostUnreachable:
                case SocketError.NetworkUnreachable:
                    // An ICMP error about an earlier echo, reported on the next receive by some systems; not a fault.
                    return true;
                default:
                    RetryLater(new SocketException((int)error));
                    return false;
            }
        }

        private void Fail(Exception exception)
        {
            if (_listener._closed)
            {
                TakeReleaseAfterSend()?.Release();
                _listener.SlotEnded();
                return;
            }

            // Unexpected; this slot keeps (or takes back) the receive duty after a pause. A datagram held for after
            // the one that was being sent is released, so it is not held forever.
            _sending = false;
            _sentOne = false;
            TakeReleaseAfterSend()?.Release();
            RetryLater(exception);
        }

        /// <summary>Reports an unexpected failure and resumes receiving after a pause that grows up to one second.</summary>
        private void RetryLater(Exception exception)
        {
            var listener = _listener;
            _retry ??= new RetryBackoff(((IThreadPoolWorkItem)this).Execute);
            EchoServerLog.UdpReceiveFailed(listener._context.Logger, listener.EndPoint, _retry.Next(), exception);
            listener._context.Server.RaiseServerFaulted(listener.EndPoint, exception);
            _retry.Schedule();
        }

        private void LogDropped(int length, string reason)
        {
            var logger = _listener._context.Logger;
            if (logger.IsEnabled(LogLevel.Debug))
            {
                EchoServerLog.DatagramDropped(logger, length, _source.Captured ? _source.ToIPEndPoint() : null, _listener.EndPoint, reason);
            }
        }
    }
}

/// <summary>Datagram and byte totals of a UDP listener (or one of its slots).</summary>
internal struct UdpCounters
{
    public long Received;
    public long Echoed;
    public long Blocked;
    public long RateLimited;
    public long Oversized;
    public long SendFailed;

    /// <summary>Not echoed because of a fault rule: picked by <c>drop</c>, or held back (latency, reorder) when the listener stopped.</summary>
    public long FaultDropped;
    public long BytesReceived;
    public long BytesSent;

    /// <summary>
    /// Reads a slot's counters while the slot may be writing them: each outcome (echoed, dropped) before the datagrams
    /// received and the bytes sent before the bytes received, since a slot counts a receive before its outcome; so the
    /// copy never shows more outcomes than datagrams received.
    /// </summary>
    public static UdpCounters Read(ref UdpCounters slot)
    {
        var copy = default(UdpCounters);
        copy.Echoed = Volatile.Read(ref slot.Echoed);
        copy.BytesSent = Volatile.Read(ref slot.BytesSent);
        copy.Blocked = Volatile.Read(ref slot.Blocked);
        copy.RateLimited = Volatile.Read(ref slot.RateLimited);
        copy.Oversized = Volatile.Read(ref slot.Oversized);
        copy.SendFailed = Volatile.Read(ref slot.SendFailed);
        copy.FaultDropped = Volatile.Read(ref slot.FaultDropped);
        copy.Received = Volatile.Read(ref slot.Received);
        copy.BytesReceived = Volatile.Read(ref slot.BytesReceived);
        return copy;
    }

    public void Add(in UdpCounters other)
    {
        Received += other.Received;
        Echoed += other.Echoed;
        Blocked += other.Blocked;
        RateLimited += other.RateLimited;
        Oversized += other.Oversized;
        SendFailed += other.SendFailed;
        FaultDropped += other.FaultDropped;
        BytesReceived += other.BytesReceived;
        BytesSent += other.BytesSent;
    }
}
