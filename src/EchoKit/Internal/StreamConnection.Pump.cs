using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace EchoKit.Internal;

/// <summary>
/// The one pump of every stream transport: wait for data, receive into a pooled buffer, send the same bytes back,
/// repeat; the transport below (<see cref="StreamTransport"/>) and the features above (PROXY header, TLS handshake,
/// greeting, faults) are steps it takes, never copies of it.
/// </summary>
internal sealed partial class StreamConnection
{
    private ConnectionPhase _resume;
    private bool _receiveBeforeWaiting;
    private int _sendOffset;
    private int _sendCount;
    private int _lastReceive;

    /// <summary>What follows a completed <see cref="ConnectionPhase.CloseSend"/>: the drain, or the close.</summary>
    private ConnectionPhase _afterCloseSend;

    private ConnectionPhase FirstStep => Context.Options.WaitForDataBeforeAllocatingBuffer ? ConnectionPhase.WaitForData : ConnectionPhase.Receive;

    /// <summary>
    /// Starts the pump. When nobody listens for the accepted event or log, a TCP or Unix connection's first receive is
    /// issued right here on the accept loop (usually it just goes pending): a thread-pool hop per connection costs more
    /// than it buys. The event, when wanted, and everything of a TLS connection (a handshake is too much work for the
    /// accept loop) run on the thread pool.
    /// </summary>
    public void Start()
    {
        if (IsTls)
        {
            // Accepted (event, faults) only once the PROXY header, if any, is read: see OnProxyHeaderBytes.
            _resume = AwaitsProxyHeader ? ConnectionPhase.ProxyHeader : ConnectionPhase.Start;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return;
        }

        if (AwaitsProxyHeader)
        {
            RunOnAcceptLoop(ConnectionPhase.ProxyHeader);
            return;
        }

        StartServing();
        if (Context.Server.WantsAcceptedReport(Context.Logger))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
        else
        {
            RunOnAcceptLoop(FirstStepOrGreeting);
        }
    }

    /// <summary>An operation of the transport completed; an exception escaping it would take the process down, so it is contained to this connection.</summary>
    public void OnTransportCompleted()
    {
        try
        {
            Run(Complete());
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// Where an accepted connection's faults (and greeting) start: once the transport is ready for data, that is at
    /// accept, after the PROXY header, or after the TLS handshake (so no fault cuts a handshake short).
    /// </summary>
    private void StartServing()
    {
        _greetingSent = 0;
        _afterGreeting = 0;
        PrepareGreeting();
        CatchUpFaultChange();
        if (Faults is { } faults)
        {
            StartFaults(faults);
        }
    }

    /// <summary>Runs on the thread pool: the first step of an admitted connection, or the pump resuming after a yield.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        try
        {
            var step = _resume;
            if (step == ConnectionPhase.Start)
            {
                ReportAccepted();
                step = IsTls ? ConnectionPhase.Handshake : FirstStepOrGreeting;
            }

            Run(step);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>Starts the pump on the calling thread (the accept loop); nothing it does may escape to that loop.</summary>
    private void RunOnAcceptLoop(ConnectionPhase step)
    {
        try
        {
            Run(step);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// Issues operations until one is pending or the connection ends. A synchronous completion is handled in this
    /// loop, never by recursion or a hop to another thread, and after <see cref="ServerContext.MaxStreamSynchronousCompletions"/>
    /// of them the pump yields its thread.
    /// </summary>
    private void Run(ConnectionPhase step)
    {
        var synchronousCompletions = 0;
        while (true)
        {
            bool pending;
            var next = ConnectionPhase.Close;
            var receivedNow = false;
            try
            {
                switch (step)
                {
                    case ConnectionPhase.WaitForData:
                        if (_receiveBeforeWaiting && !IsClosing && TryReceiveNow(out next))
                        {
                            receivedNow = true;
                            pending = false;
                            break;
                        }

                        if (!TryEnter(ConnectionPhase.WaitForData))
                        {
                            // A stop (or abort) that looked before the write above did not see this wait.
                            step = BeginDrain();
                            continue;
                        }

                        pending = _transport.Receive(null, 0, 0);
                        break;
                    case ConnectionPhase.Receive:
                    case ConnectionPhase.Drain:
                        var buffer = RentBuffer();
                        SetPhase(step);
                        pending = _transport.Receive(buffer, 0, buffer.Length);
                        break;
                    case ConnectionPhase.ProxyHeader:
                        var start = RentBuffer();
                        SetPhase(ConnectionPhase.ProxyHeader);
                        pending = _transport.Receive(start, _headerReceived, start.Length - _headerReceived);
                        break;
                    case ConnectionPhase.Handshake:
                        pending = StartHandshake();
                        break;
                    case ConnectionPhase.Connect:
                        pending = StartConnect();
                        break;
                    case ConnectionPhase.Send:
                        SetPhase(ConnectionPhase.Send);
                        pending = _sink.Send(Buffer!, _sendOffset, _sendCount);
                        break;
                    case ConnectionPhase.Greet:
                        var greeting = PendingGreeting!;
                        SetPhase(ConnectionPhase.Greet);
                        pending = _transport.Send(greeting, _greetingSent, greeting.Length - _greetingSent);
                        break;
                    case ConnectionPhase.FaultDelay:
                        if (ParkForFault())
                        {
                            // The fault clock (or an abort) resumes the pump; nothing is pending on the transport.
                            return;
                        }

                        step = _afterPark;
                        continue;
                    case ConnectionPhase.FaultSend:
                        SetPhase(ConnectionPhase.FaultSend);
                        pending = _sink.Send(Buffer!, _sendOffset, Faults!.PieceLeft);
                        break;
                    case ConnectionPhase.CloseSend:
                        SetPhase(ConnectionPhase.CloseSend);
                        // A relay's socket stays open for the other direction, so its FIN is a shutdown of its own.
                        pending = _sink.ShutdownSend(closingNext: _afterCloseSend == ConnectionPhase.Close && !IsRelay);
                        break;
                    default:
                        CloseOffTheClock();
                        return;
                }
            }
            catch (ObjectDisposedException)
            {
                // Aborted (idle timeout, stop) between two operations; the reason is already decided.
                CloseOffTheClock();
                return;
            }

            if (pending)
            {
                return;
            }

            step = receivedNow ? next : Complete();
            if (++synchronousCompletions == ServerContext.MaxStreamSynchronousCompletions)
            {
                _resume = step;
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }
        }
    }

    /// <summary>Consumes the result of the operation that just completed and picks the next step.</summary>
    private ConnectionPhase Complete()
    {
        var completed = Phase;
        if (completed == ConnectionPhase.WaitForData && !TryMovePhase(ConnectionPhase.WaitForData, ConnectionPhase.Receive))
        {
            completed = ConnectionPhase.Stopped;
        }

        var transport = completed is ConnectionPhase.Send or ConnectionPhase.FaultSend or ConnectionPhase.CloseSend or ConnectionPhase.Connect ? _sink : _transport;
        var error = transport.GetResult(out var transferred);
        return Advance(completed, error, transferred);
    }

    /// <summary>
    /// Instead of a zero-byte wait, one non-blocking receive while that keeps finding data: a new connection's first
    /// bytes, the next of a pipelining client's messages and a closing client's end of stream are usually there
    /// already, and then this is one system call where the wait and its receive were two. The first time it finds
    /// nothing, the connection waits with zero-byte receives from then on, so a request/response client pays one
    /// extra call in its life and an idle connection still holds no buffer. Returns whether it found something.
    /// </summary>
    private bool TryReceiveNow(out ConnectionPhase next)
    {
        var buffer = RentBuffer();
        SetPhase(ConnectionPhase.Receive);
        if (!_transport.TryReceiveNow(buffer, out var error, out var received))
        {
            _receiveBeforeWaiting = false;
            ReleaseBuffer();
            next = default;
            return false;
        }

        next = Advance(ConnectionPhase.Receive, error, received);
        return true;
    }

    /// <summary>Consumes the result of an operation (<paramref name="completed"/>) and picks the next step.</summary>
    private ConnectionPhase Advance(ConnectionPhase completed, SocketError error, int transferred)
    {
        if (completed == ConnectionPhase.Stopped)
        {
            // A stop claimed this idle connection and sent FIN; whatever the client still sends is discarded.
            return error == SocketError.Success ? ConnectionPhase.Drain : ConnectionPhase.Close;
        }

        if (completed == ConnectionPhase.Handshake)
        {
            return OnHandshakeDone(error);
        }

        if (completed == ConnectionPhase.Connect)
        {
            return OnConnected(error);
        }

        if (error != SocketError.Success)
        {
            if (completed is ConnectionPhase.Send or ConnectionPhase.FaultSend)
            {
                // A send cut short still handed part of the echo to the kernel, and the client may read it.
                BytesSent += transferred;
            }

            DecideFromError(error);
            return ConnectionPhase.Close;
        }

        switch (completed)
        {
            case ConnectionPhase.WaitForData:
                return ConnectionPhase.Receive;

            case ConnectionPhase.Receive:
                if (transferred == 0)
                {
                    // End of stream: the client shut down its sending side (or a stop woke the receive);
                    // every byte received has already been echoed.
                    TryDecide(ConnectionCloseReason.ClientClosed, SocketError.Success);
                    return EndStream();
                }

                return OnReceived(transferred);

            case ConnectionPhase.ProxyHeader:
                // A client that closes before its header is complete is rejected (the close becomes a rejection).
                return transferred == 0 ? ConnectionPhase.Close : OnProxyHeaderBytes(transferred);

            case ConnectionPhase.Drain:
                // Discarded: the server is stopping and echoes nothing more; end when the client closes.
                return transferred == 0 ? ConnectionPhase.Close : ConnectionPhase.Drain;

            case ConnectionPhase.CloseSend:
                _sentFin = true;
                return _afterCloseSend;

            case ConnectionPhase.FaultSend:
                return OnFaultSent(transferred);

            case ConnectionPhase.Greet:
                return OnGreetingSent(transferred);

            default:
                BytesSent += transferred;
                Touch();
                _sendOffset += transferred;
                _sendCount -= transferred;
                if (_sendCount > 0)
                {
                    return ConnectionPhase.Send;
                }

                return NextAfterEcho();
        }
    }

    /// <summary><paramref name="received"/> bytes are at the start of the buffer: the byte limit, then the faults (one test without), then the echo.</summary>
    private ConnectionPhase OnReceived(int received)
    {
        BytesReceived += received;
        Touch();
        _lastReceive = received;
        _sendOffset = 0;
        _sendCount = received;
        if (Context.Options.MaxBytesPerConnection is { } maxBytes && BytesReceived > maxBytes)
        {
            // Echo up to the limit, then close gracefully; the rest is not echoed.
            _sendCount -= (int)Math.Min(received, BytesReceived - maxBytes);
            TryDecide(ConnectionCloseReason.ByteLimitExceeded, SocketError.Success);
            if (_sendCount == 0)
            {
                return BeginDrain();
            }
        }

        // The tests a connection without faults pays per receive.
        if (FaultsChanged)
        {
            TakeUpFaultChange();
        }

        if (Faults is { } faults)
        {
            return OnFaultedReceive(faults);
        }

        return ConnectionPhase.Send;
    }

    /// <summary>The step after an echo was fully written (or discarded): drain if closing, else wait for or receive more.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ConnectionPhase NextAfterEcho()
    {
        if (IsClosing)
        {
            return BeginDrain();
        }

        // A receive that filled the whole buffer means more data is almost surely waiting: read it
        // into the buffer still held instead of paying for a zero-byte wait first.
        if (Context.Options.WaitForDataBeforeAllocatingBuffer && _lastReceive < Buffer!.Length)
        {
            ReleaseBuffer();
            return ConnectionPhase.WaitForData;
        }

        return ConnectionPhase.Receive;
    }

    /// <summary>
    /// Closing gracefully after an echo (stop, lifetime, byte limit, a fault's limit or close): FIN (TLS: close_notify and
    /// FIN) behind the echoed data, then read until the client closes, because closing with unread data would reset the
    /// connection and destroy echo data the client has not read yet. <see cref="EchoServerOptions.ShutdownTimeout"/>
    /// bounds the wait. A fault that resets (limit:then=reset) closes at once instead: RST.
    /// </summary>
    private ConnectionPhase BeginDrain()
    {
        if (IsRelay)
        {
            return EndRelayStream();
        }

        if (CloseReason is not (ConnectionCloseReason.ServerStopping or ConnectionCloseReason.LifetimeExceeded
            or ConnectionCloseReason.ByteLimitExceeded or ConnectionCloseReason.FaultInjected) || Faults is { ResetOnClose: true })
        {
            return ConnectionPhase.Close;
        }

        Touch();
        _afterCloseSend = ConnectionPhase.Drain;
        return ConnectionPhase.CloseSend;
    }
}
