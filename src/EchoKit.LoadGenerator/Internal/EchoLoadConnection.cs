using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>
/// One pipelined load connection: a send loop keeps <c>MessagesInFlight</c> messages outstanding, a receive loop
/// verifies every echoed byte and hands a credit back per complete message. Buffers, timestamps and the latency
/// histogram are allocated once; the steady state allocates nothing.
/// </summary>
internal sealed class EchoLoadConnection
{
    private readonly Socket _socket;
    private readonly int _id;
    private readonly EchoRunState _run;
    private readonly MessagePattern _pattern;
    private readonly int _size;
    private readonly int _inFlight;
    private readonly byte[] _sendBuffer;
    private readonly byte[] _receiveBuffer;
    private readonly long[] _sentAt;
    private readonly AsyncSignal _signal = new();
    private int _credits;
    private long _sent;
    private long _nextToSend;
    private long _received;
    private long _verified;
    private int _receivedInMessage;
    private bool _currentMismatched;
    private volatile bool _senderDone;
    private string? _error;

    public EchoLoadConnection(Socket socket, int id, EchoRunState run, MessagePattern pattern, int messagesInFlight)
    {
        _socket = socket;
        _id = id;
        _run = run;
        _pattern = pattern;
        _size = pattern.MessageSize;
        _inFlight = messagesInFlight;
        _credits = messagesInFlight;
        _sendBuffer = GC.AllocateUninitializedArray<byte>(_size * messagesInFlight, pinned: true);
        _receiveBuffer = GC.AllocateUninitializedArray<byte>(Math.Clamp(_size * messagesInFlight, 4096, 256 * 1024), pinned: true);
        _sentAt = new long[messagesInFlight];
    }

    public LatencyHistogram Histogram { get; } = new();

    /// <summary>Messages completed while recording.</summary>
    public long Messages { get; private set; }

    /// <summary>Messages completed at any time.</summary>
    public long Verified => _verified;

    /// <summary><see cref="Verified"/>, read from another thread while the receive loop runs (a plain field it alone writes).</summary>
    public long VerifiedSoFar => Volatile.Read(ref _verified);

    public long Mismatches { get; private set; }

    public string? Error => Volatile.Read(ref _error);

    public async Task RunAsync()
    {
        var receive = ReceiveLoopAsync();
        await SendLoopAsync().ConfigureAwait(false);
        await receive.ConfigureAwait(false);
    }

    /// <summary>Wakes the send loop so it sees <see cref="EchoRunState.Stopping"/>.</summary>
    public void Wake() => _signal.Set();

    public void Fail(string message)
    {
        if (Interlocked.CompareExchange(ref _error, message, null) is null)
        {
            _socket.Dispose();
            _signal.Set();
        }
    }

    private async Task SendLoopAsync()
    {
        try
        {
            while (!_run.Stopping && Error is null)
            {
                var count = Interlocked.Exchange(ref _credits, 0);
                if (count == 0)
                {
                    await _signal.WaitAsync().ConfigureAwait(false);
                    continue;
                }

                var first = _nextToSend;
                for (var i = 0; i < count; i++)
                {
                    _pattern.Write(_id, first + i, _sendBuffer.AsSpan(i * _size, _size));
                }

                var now = Stopwatch.GetTimestamp();
                for (var i = 0; i < count; i++)
                {
                    _sentAt[(first + i) % _inFlight] = now;
                }

                _nextToSend = first + count;
                Volatile.Write(ref _sent, _nextToSend);
                await LoopbackSocket.SendAllAsync(_socket, _sendBuffer.AsMemory(0, count * _size)).ConfigureAwait(false);
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
                    _signal.Set();
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
        var recording = _run.Recording;
        var completed = 0;
        while (!data.IsEmpty)
        {
            if (_receivedInMessage == 0 && _received >= Volatile.Read(ref _sent))
            {
                Mismatches++;
                Fail("the server sent bytes that were never sent to it");
                return -1;
            }

            var take = Math.Min(_size - _receivedInMessage, data.Length);
            if (!_pattern.Verify(_id, _received, _receivedInMessage, data[..take]))
            {
                _currentMismatched = true;
            }

            _receivedInMessage += take;
            data = data[take..];
            if (_receivedInMessage == _size)
            {
                if (_currentMismatched)
                {
                    Mismatches++;
                    _currentMismatched = false;
                }

                _verified++;
                if (recording)
                {
                    Messages++;
                    Histogram.Record(now - _sentAt[_received % _inFlight]);
                }

                _received++;
                _receivedInMessage = 0;
                completed++;
            }
        }

        return completed;
    }
}
