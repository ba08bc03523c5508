using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>
/// One UDP load flow: a connected socket with <c>MessagesInFlight</c> slots, each holding one datagram in flight.
/// Slot k carries sequence numbers k, k + N, k + 2N, ... so an echo's sequence number names its slot. A send loop
/// fills free slots; a receive loop matches each echo to its slot, verifies it and frees the slot; the run's sweeper
/// (<see cref="ExpireLost"/>) frees the slots whose datagram was not echoed within the loss timeout. Buffers are
/// allocated once; slot state changes under a lock the two loops and the sweeper share, never per byte.
/// </summary>
internal sealed class UdpLoadFlow : EchoLoadStream
{
    private const long NeverUsed = -1;

    /// <summary>The send time of a slot taken but not sent yet: a datagram cannot be lost before it leaves.</summary>
    private const long NotSentYet = long.MaxValue;

    private readonly Socket _socket;
    private readonly IPEndPoint _remote;
    private readonly Action _failed;
    private readonly byte[] _receiveBuffer;
    private readonly long[] _sequence;
    private readonly SlotState[] _state;
    private readonly int[] _free;
    private readonly int[] _batch;
    private readonly Lock _lock = new();
    private int _freeCount;
    private int _outstanding;
    private long _sent;
    private long _lost;
    private volatile bool _senderDone;
    private volatile bool _closing;

    public UdpLoadFlow(Socket socket, int id, IPEndPoint remote, EchoRunState run, MessagePattern pattern, int messagesInFlight, Action failed)
        : base(id, run, pattern, messagesInFlight)
    {
        _socket = socket;
        _remote = remote;
        _failed = failed;
        _receiveBuffer = GC.AllocateUninitializedArray<byte>(Size + 1, pinned: true);   // + 1: a longer echo shows as longer
        _sequence = new long[messagesInFlight];
        _state = new SlotState[messagesInFlight];
        _free = new int[messagesInFlight];
        _batch = new int[messagesInFlight];
        for (var slot = 0; slot < messagesInFlight; slot++)
        {
            _sequence[slot] = NeverUsed;
            _free[slot] = messagesInFlight - 1 - slot;   // slot 0 is sent first
        }

        _freeCount = messagesInFlight;
    }

    private enum SlotState : byte
    {
        Free,
        Outstanding,
    }

    private enum EchoMatch
    {
        InFlight,
        Stale,
        NeverSent,
    }

    public long OutOfWindow { get; private set; }

    public override long SentSoFar => Volatile.Read(ref _sent);

    public override long LostSoFar => Volatile.Read(ref _lost);

    /// <summary>Whether every datagram sent has been echoed or declared lost (or the flow failed), after the sender stopped.</summary>
    public bool Settled => Error is not null || (_senderDone && Volatile.Read(ref _outstanding) == 0);

    public async Task RunAsync()
    {
        var receive = ReceiveLoopAsync();
        await SendLoopAsync().ConfigureAwait(false);
        await receive.ConfigureAwait(false);
    }

    /// <summary>Closes the socket at the end of the run, which ends the receive loop without an error.</summary>
    public void Close()
    {
        _closing = true;
        _socket.Dispose();
        Signal.Set();
    }

    /// <summary>
    /// Declares lost every datagram in flight for <paramref name="timeoutTicks"/> or more, and frees its slot; while
    /// echoes wait unread on the socket, only those in flight for twice that.
    /// </summary>
    public void ExpireLost(long now, long timeoutTicks)
    {
        if (Error is not null || Volatile.Read(ref _outstanding) == 0 || !AnyInFlightFor(now, timeoutTicks))
        {
            return;
        }

        // Echoes already queued on the socket may be the ones due: then the receive loop is behind (a busy or starved
        // client), not the network, and declaring them lost would report the client's own lag as loss. Datagrams
        // arriving after this check arrive after their deadline. Twice the timeout bounds the wait for a receive loop
        // that never catches up (a peer flooding the socket).
        var deadline = HasUnreadDatagrams() ? 2 * timeoutTicks : timeoutTicks;
        var expired = 0;
        lock (_lock)
        {
            for (var slot = 0; slot < InFlight; slot++)
            {
                if (_state[slot] == SlotState.Outstanding && now - Volatile.Read(ref SentAt[slot]) >= deadline)
                {
                    _state[slot] = SlotState.Free;
                    _free[_freeCount++] = slot;
                    expired++;
                }
            }

            _outstanding -= expired;
            Volatile.Write(ref _lost, _lost + expired);
        }

        if (expired > 0)
        {
            Signal.Set();
        }
    }

    private bool AnyInFlightFor(long now, long ticks)
    {
        lock (_lock)
        {
            for (var slot = 0; slot < InFlight; slot++)
            {
                if (_state[slot] == SlotState.Outstanding && now - Volatile.Read(ref SentAt[slot]) >= ticks)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private bool HasUnreadDatagrams()
    {
        try
        {
            return _socket.Available > 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Fail(string message)
    {
        if (TrySetError(message))
        {
            Signal.Set();
            _failed();
        }
    }

    private void Fail(string operation, SocketException exception) =>
        Fail(exception.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset
            ? $"nothing listening on udp {_remote} (the host answered 'port unreachable')"
            : $"{operation} failed: {LoopbackSocket.Describe(exception)}");

    private async Task SendLoopAsync()
    {
        try
        {
            while (!Run.Stopping && Error is null)
            {
                var count = TakeFreeSlots();
                if (count == 0)
                {
                    await Signal.WaitAsync().ConfigureAwait(false);
                    continue;
                }

                for (var i = 0; i < count; i++)
                {
                    var slot = _batch[i];
                    var datagram = SendBuffer.AsMemory(slot * Size, Size);
                    Pattern.Write(Id, _sequence[slot], datagram.Span);
                    Volatile.Write(ref SentAt[slot], Stopwatch.GetTimestamp());
                    await _socket.SendAsync(datagram, SocketFlags.None).ConfigureAwait(false);
                    Volatile.Write(ref _sent, _sent + 1);
                }
            }
        }
        catch (SocketException ex) when (!_closing)
        {
            Fail("send", ex);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed at the end of the run.
        }
        finally
        {
            _senderDone = true;
        }
    }

    /// <summary>Moves every free slot to <see cref="_batch"/> with its next sequence number, marked in flight.</summary>
    private int TakeFreeSlots()
    {
        lock (_lock)
        {
            var count = _freeCount;
            for (var i = 0; i < count; i++)
            {
                var slot = _free[--_freeCount];
                _batch[i] = slot;
                _sequence[slot] = _sequence[slot] == NeverUsed ? slot : _sequence[slot] + InFlight;
                _state[slot] = SlotState.Outstanding;
                SentAt[slot] = NotSentYet;   // stamped when sent: a send loop held up here must not make its datagrams expire
            }

            _outstanding += count;
            return count;
        }
    }

    private async Task ReceiveLoopAsync()
    {
        while (true)
        {
            int received;
            try
            {
                // Memory<byte>, not byte[]: the byte[] overload is the ArraySegment one, which returns a new Task<int> per receive.
                received = await _socket.ReceiveAsync(_receiveBuffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize && !_closing)
            {
                received = _receiveBuffer.Length;   // Windows reports a datagram longer than the buffer this way
            }
            catch (SocketException ex) when (!_closing)
            {
                Fail("receive", ex);
                return;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;   // closed at the end of the run
            }

            Consume(received);
        }
    }

    private void Consume(int length)
    {
        var now = Stopwatch.GetTimestamp();
        var datagram = _receiveBuffer.AsSpan(0, length);
        if (!MessagePattern.TryReadHeader(datagram, out var flowId, out var sequence) || flowId != (Id & 0xFF_FFFF))
        {
            Mismatches++;
            return;
        }

        var slot = (int)(sequence % InFlight);
        EchoMatch match;
        long sentAt = 0;
        lock (_lock)
        {
            var current = _sequence[slot];
            if (sequence == current && _state[slot] == SlotState.Outstanding)
            {
                _state[slot] = SlotState.Free;
                _free[_freeCount++] = slot;
                _outstanding--;
                sentAt = Volatile.Read(ref SentAt[slot]);
                match = EchoMatch.InFlight;
            }
            else
            {
                match = current != NeverUsed && sequence <= current ? EchoMatch.Stale : EchoMatch.NeverSent;
            }
        }

        var intact = length == Size && Pattern.Verify(Id, sequence, 0, datagram);
        if (!intact || match == EchoMatch.NeverSent)
        {
            Mismatches++;
        }
        else if (match == EchoMatch.Stale)
        {
            OutOfWindow++;
        }
        else
        {
            CountVerified();
            if (Run.Recording)
            {
                Messages++;
                Histogram.Record(now - sentAt);
            }
        }

        if (match == EchoMatch.InFlight)
        {
            Signal.Set();
        }
    }
}
