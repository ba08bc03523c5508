using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// One bound UDP socket (RFC 862 over UDP): each datagram received is sent back, unchanged, to its source, unless
/// the <see cref="UdpEchoPolicy"/> drops it. <see cref="UdpEchoPolicy.DatagramsInFlight"/> slots, each a
/// <see cref="SocketAsyncEventArgs"/> with its own buffer, take turns: exactly one slot holds the receive duty and
/// loops receive → send → receive, synchronous completions included. Only when its send goes pending (a slow send)
/// does it hand the receive duty to an idle slot, so the socket keeps receiving; the slot takes the duty back, or
/// goes idle, when its send completes. One receive pending per socket is also what keeps the runtime from allocating
/// (it caches one pending-receive operation per socket), so nothing is allocated per datagram. The UDP fault rules
/// (<see cref="UdpFaultPath"/>) may drop, duplicate, corrupt or hold back a datagram; a held one keeps its slot, which
/// gives up the receive duty as a slow send does. This file holds the socket and the duty; the slots are in
/// UdpEchoListener.Slot.cs (the send and receive loop), UdpEchoListener.Receive.cs (what a receive yields) and
/// UdpEchoListener.Faults.cs (the fault rules), and each counts into its own <see cref="UdpCounters"/>.
/// </summary>
internal sealed partial class UdpEchoListener : IDisposable, IEchoListener, IUdpCounting
{
    private readonly ServerContext _context;
    private readonly UdpEchoPolicy _policy;
    private readonly Socket _socket;
    private readonly Slot[] _slots;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly Slot[] _idle;
    private readonly UdpFaultPath _faults;
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
        _faults = new UdpFaultPath(this, context.Faults.Seed, _slots.Length, context.Options.Udp.MaxTrackedSources, context.Metrics);
        _idle = new Slot[_slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            _slots[i] = new Slot(this);
        }
    }

    /// <summary>The endpoint actually bound (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Always <see cref="EchoTransport.Udp"/>.</summary>
    public EchoTransport Transport => EchoTransport.Udp;

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
}
