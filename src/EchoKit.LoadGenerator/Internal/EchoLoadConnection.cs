using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>
/// One pipelined load connection: a send loop keeps <c>MessagesInFlight</c> messages outstanding, a receive loop
/// verifies every echoed byte and hands a credit back per complete message. Buffers, timestamps and the latency
/// histogram are allocated once; the steady state allocates nothing (at a constant rate, a timer wait when ahead of
/// the schedule). With a reconnect function, a socket the server ends is replaced and the load goes on.
/// </summary>
internal sealed class EchoLoadConnection : EchoLoadStream, IDisposable
{
    private readonly Func<ValueTask<Socket>>? _reconnect;
    private readonly double _ticksPerMessage;
    private readonly double _phase;
    private Socket _socket;
    private readonly byte[] _receiveBuffer;
    private int _credits;
    private long _sent;
    private long _nextToSend;
    private long _received;
    private int _receivedInMessage;
    private bool _currentMismatched;
    private volatile bool _senderDone;
    private bool _protocolError;
    private long _scheduleStart;
    private long _scheduled;

    /// <param name="socket">The first socket, connected (and its prologue done).</param>
    /// <param name="id">The connection's number, which the message pattern depends on.</param>
    /// <param name="run">The run's phase.</param>
    /// <param name="pattern">The messages.</param>
    /// <param name="messagesInFlight">The most messages sent and not yet echoed.</param>
    /// <param name="reconnect">Opens the next socket after the server ended one; <see langword="null"/> not to.</param>
    /// <param name="messagesPerSecond">This connection's constant rate; <see langword="null"/> for as fast as the echoes come.</param>
    /// <param name="phase">0..1: where in its first interval this connection's schedule starts, so connections do not send in lockstep.</param>
    public EchoLoadConnection(
        Socket socket, int id, EchoRunState run, MessagePattern pattern, int messagesInFlight,
        Func<ValueTask<Socket>>? reconnect = null, double? messagesPerSecond = null, double phase = 0)
        : base(id, run, pattern, messagesInFlight)
    {
        _socket = socket;
        _reconnect = reconnect;
        _ticksPerMessage = messagesPerSecond is { } rate ? Stopwatch.Frequency / rate : 0;
        _phase = phase;
        _credits = messagesInFlight;
        _receiveBuffer = GC.AllocateUninitializedArray<byte>(Math.Clamp(Size * messagesInFlight, 4096, 256 * 1024), pinned: true);
    }

    /// <summary>For progress, the messages verified: a TCP message is never lost (<see cref="LoadProgress.Sent"/>).</summary>
    public override long SentSoFar => VerifiedSoFar;

    public override long LostSoFar => 0;

    /// <summary>Messages sent on a socket the server then closed or reset before echoing them whole (with reconnect).</summary>
    public long FailedEchoes { get; private set; }

    /// <summary>Sockets opened again after the server ended one.</summary>
    public long Reconnections { get; private set; }

    /// <summary>Attempts to open the next socket that failed, and were retried.</summary>
    public long FailedConnects { get; private set; }

    public async Task RunAsync()
    {
        _scheduleStart = Stopwatch.GetTimestamp() + (long)(_ticksPerMessage * _phase);
        while (true)
        {
            var receive = ReceiveLoopAsync();
            await SendLoopAsync().ConfigureAwait(false);
            await receive.ConfigureAwait(false);
            if (_reconnect is null || Error is null || _protocolError)
            {
                return;
            }

            // The server closed or reset this socket (or the drain gave up on it): what it had not echoed whole is lost,
            // the rest is not an error, even while the run stops.
            FailedEchoes += Volatile.Read(ref _sent) - _received;
            ClearError();
            _socket.Dispose();
            if (Run.Stopping || !await ReconnectAsync().ConfigureAwait(false))
            {
                return;
            }

            Reconnections++;
        }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>Opens the next socket, retrying with a growing pause; false when the run stopped first.</summary>
    private async Task<bool> ReconnectAsync()
    {
        var failures = 0;
        while (!Run.Stopping)
        {
            try
            {
                var socket = await _reconnect!().ConfigureAwait(false);
                _socket = socket;
                _credits = InFlight;
                _sent = _nextToSend = _received = 0;
                _receivedInMessage = 0;
                _currentMismatched = false;
                _senderDone = false;
                return true;
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
            {
                FailedConnects++;
                failures++;
                await Task.Delay(Math.Min(10 * failures, 200), CancellationToken.None).ConfigureAwait(false);
            }
        }

        return false;
    }

    public void Fail(string message)
    {
        if (TrySetError(message))
        {
            _socket.Dispose();
            Signal.Set();
        }
    }

    private async Task SendLoopAsync()
    {
        try
        {
            while (!Run.Stopping && Error is null)
            {
                var count = Interlocked.Exchange(ref _credits, 0);
                if (count == 0)
                {
                    await Signal.WaitAsync().ConfigureAwait(false);
                    continue;
                }

                var now = Stopwatch.GetTimestamp();
                if (_ticksPerMessage > 0)
                {
                    // An open model: send only what the schedule makes due within the send-ahead; give the other credits back.
                    var due = (long)Math.Floor((now + SendAhead - _scheduleStart) / _ticksPerMessage) + 1 - _scheduled;
                    if (due < count)
                    {
                        Interlocked.Add(ref _credits, count - (int)Math.Max(due, 0));
                        if (due <= 0)
                        {
                            await WaitUntilAsync(DueAt(_scheduled) - SendAhead).ConfigureAwait(false);
                            continue;
                        }

                        count = (int)due;
                    }
                }

                var first = _nextToSend;
                for (var i = 0; i < count; i++)
                {
                    Pattern.Write(Id, first + i, SendBuffer.AsSpan(i * Size, Size));
                }

                for (var i = 0; i < count; i++)
                {
                    // At a constant rate a message's latency runs from when it was due (coordinated omission), or
                    // from now when it leaves early (within the send-ahead).
                    SentAt[(first + i) % InFlight] = _ticksPerMessage > 0 ? Math.Min(DueAt(_scheduled + i), now) : now;
                }

                _scheduled += count;

                _nextToSend = first + count;
                Volatile.Write(ref _sent, _nextToSend);
                await LoopbackSocket.SendAllAsync(_socket, SendBuffer.AsMemory(0, count * Size)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Fail("send failed: " + LoopbackSocket.Describe(ex));
        }
        finally
        {
            _senderDone = true;
        }

        if (Error is null)
        {
            try
            {
                // Everything is sent: half-close, so the server's EOF-then-close tells the receiver that all echoes are in.
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                Fail("shutdown failed: " + LoopbackSocket.Describe(ex));
            }
        }
    }

    /// <summary>
    /// How early a message may leave at a constant rate: the timer wakes up to a millisecond or two late, and a message
    /// sent late would carry that lateness as latency; sent early, it carries none, and the rate over time is the same.
    /// </summary>
    private static readonly long SendAhead = Stopwatch.Frequency / 500;

    private long DueAt(long message) => _scheduleStart + (long)(message * _ticksPerMessage);

    /// <summary>Waits for <paramref name="timestamp"/> (timer resolution: about a millisecond), or less when the run stops.</summary>
    private static async Task WaitUntilAsync(long timestamp)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        var millisecond = TimeSpan.FromMilliseconds(1);
        await Task.Delay(wait < millisecond ? millisecond : wait > TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : wait, CancellationToken.None).ConfigureAwait(false);
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveAsync(_receiveBuffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    var outstanding = Volatile.Read(ref _sent) - _received;
                    if (!_senderDone || outstanding != 0 || _receivedInMessage != 0)
                    {
                        Fail($"the server closed the connection with {outstanding} message(s) not fully echoed");
                    }

                    return;
                }

                var completed = Consume(_receiveBuffer.AsSpan(0, received));
                if (completed < 0)
                {
                    return;
                }

                if (completed > 0)
                {
                    Interlocked.Add(ref _credits, completed);
                    Signal.Set();
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Fail("receive failed: " + LoopbackSocket.Describe(ex));
        }
    }

    /// <summary>Verifies received bytes; returns how many messages completed, or -1 on a protocol error.</summary>
    private int Consume(ReadOnlySpan<byte> data)
    {
        var now = Stopwatch.GetTimestamp();
        var recording = Run.Recording;
        var completed = 0;
        while (!data.IsEmpty)
        {
            if (_receivedInMessage == 0 && _received >= Volatile.Read(ref _sent))
            {
                _protocolError = true;
                Mismatches++;
                Fail("the server sent bytes that were never sent to it");
                return -1;
            }

            var take = Math.Min(Size - _receivedInMessage, data.Length);
            if (!Pattern.Verify(Id, _received, _receivedInMessage, data[..take]))
            {
                _currentMismatched = true;
            }

            _receivedInMessage += take;
            data = data[take..];
            if (_receivedInMessage == Size)
            {
                if (_currentMismatched)
                {
                    Mismatches++;
                    _currentMismatched = false;
                }

                CountVerified();
                if (recording)
                {
                    Messages++;
                    Histogram.Record(now - SentAt[_received % InFlight]);
                }

                _received++;
                _receivedInMessage = 0;
                completed++;
            }
        }

        return completed;
    }
}
