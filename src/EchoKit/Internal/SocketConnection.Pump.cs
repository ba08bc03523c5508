using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace EchoKit.Internal;

/// <summary>The echo pump: wait for data, receive into a pooled buffer, send the same bytes back, repeat.</summary>
internal sealed partial class SocketConnection
{
    private ConnectionPhase _resume;
    private bool _receiveBeforeWaiting;
    private int _sendOffset;
    private int _sendCount;
    private int _lastReceive;

    /// <summary>PROXY protocol: the bytes of the connection's start received so far, at the start of the buffer.</summary>
    private int _headerReceived;

    private ConnectionPhase FirstStep => Context.Options.WaitForDataBeforeAllocatingBuffer ? ConnectionPhase.WaitForData : ConnectionPhase.Receive;

    /// <summary>
    /// Starts the pump. When nobody listens for the accepted event or log, the first receive is issued right here on
    /// the accept loop (usually it just goes pending): a thread-pool hop per connection costs more than it buys. The
    /// event, when wanted, runs on the thread pool as documented.
    /// </summary>
    public override void Start()
    {
        if (AwaitsProxyHeader)
        {
            // Accepted (event, faults) only once the header is read: see ReadProxyHeader.
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

    /// <summary>Where an accepted connection's faults (and greeting) start: at accept, or once its PROXY header named the client.</summary>
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

    /// <summary>
    /// Server stop. A connection waiting for data has nothing in flight: it gets FIN at once and is drained until the
    /// client closes. One that is sending finishes that echo first (see <see cref="Complete"/>). With
    /// <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/> off, a pending receive is woken by shutting
    /// down the receive side instead.
    /// </summary>
    public override void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        try
        {
            if (Phase == ConnectionPhase.ProxyHeader)
            {
                // Nothing was echoed and nothing will be: a stop does not wait for a header.
                Abort(reason);
            }
            else if (Phase == ConnectionPhase.WaitForData && TryMovePhase(ConnectionPhase.WaitForData, ConnectionPhase.Stopped))
            {
                Socket?.Shutdown(SocketShutdown.Send);
            }
            else if (!Context.Options.WaitForDataBeforeAllocatingBuffer && Phase == ConnectionPhase.Receive)
            {
                Socket?.Shutdown(SocketShutdown.Receive);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closing on its own; the pump finishes it.
        }
    }

    private void OnIoCompleted()
    {
        // An exception escaping an I/O completion would take the process down; contain it to this connection.
        try
        {
            Run(Complete());
        }
        catch (Exception ex)
        {
            Fail(ex);
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
                step = FirstStepOrGreeting;
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
    /// loop, never by recursion or a hop to another thread, and after <see cref="ServerContext.MaxSynchronousCompletions"/>
    /// of them the pump yields its thread.
    /// </summary>
    private void Run(ConnectionPhase step)
    {
        var socket = Socket!;
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
                        if (_receiveBeforeWaiting && !IsClosing && TryReceiveNow(socket, out next))
                        {
                            receivedNow = true;
                            pending = false;
                            break;
                        }

                        _args.SetBuffer(null, 0, 0);
                        if (!TryEnter(ConnectionPhase.WaitForData))
                        {
                            // A stop (or abort) that looked before the write above did not see this wait.
                            step = BeginDrain();
                            continue;
                        }

                        pending = socket.ReceiveAsync(_args);
                        break;
                    case ConnectionPhase.Receive:
                    case ConnectionPhase.Drain:
                        var buffer = RentBuffer();
                        _args.SetBuffer(buffer, 0, buffer.Length);
                        SetPhase(step);
                        pending = socket.ReceiveAsync(_args);
                        break;
                    case ConnectionPhase.ProxyHeader:
                        var start = RentBuffer();
                        _args.SetBuffer(start, _headerReceived, start.Length - _headerReceived);
                        SetPhase(ConnectionPhase.ProxyHeader);
                        pending = socket.ReceiveAsync(_args);
                        break;
                    case ConnectionPhase.Send:
                        _args.SetBuffer(Buffer, _sendOffset, _sendCount);
                        SetPhase(ConnectionPhase.Send);
                        pending = socket.SendAsync(_args);
                        break;
                    case ConnectionPhase.Greet:
                        var greeting = PendingGreeting!;
                        _args.SetBuffer(greeting, _greetingSent, greeting.Length - _greetingSent);
                        SetPhase(ConnectionPhase.Greet);
                        pending = socket.SendAsync(_args);
                        break;
                    case ConnectionPhase.FaultDelay:
                        if (ParkForFault())
                        {
                            // The fault timer (or an abort) resumes the pump; nothing is pending on the socket.
                            return;
                        }

                        step = _afterPark;
                        continue;
                    case ConnectionPhase.FaultSend:
                        _args.SetBuffer(Buffer, _sendOffset, Faults!.PieceLeft);
                        SetPhase(ConnectionPhase.FaultSend);
                        pending = socket.SendAsync(_args);
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
            if (++synchronousCompletions == ServerContext.MaxSynchronousCompletions)
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

        return Advance(completed, _args.SocketError, _args.BytesTransferred);
    }

    /// <summary>
    /// Instead of a zero-byte wait, one non-blocking receive while that keeps finding data: a new connection's first
    /// bytes, the next of a pipelining client's messages and a closing client's end of stream are usually there
    /// already, and then this is one system call where the wait and its receive were two. The first time it finds
    /// nothing, the connection waits with zero-byte receives from then on, so a request/response client pays one
    /// extra call in its life and an idle connection still holds no buffer. Returns whether it found something.
    /// </summary>
    private bool TryReceiveNow(Socket socket, out ConnectionPhase next)
    {
        var buffer = RentBuffer();
        SetPhase(ConnectionPhase.Receive);
        var received = socket.Receive(buffer, SocketFlags.None, out var error);
        if (error == SocketError.WouldBlock)
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
                    return Faults is { SlowCloseDelay: > 0 } slowClose ? HoldClose(slowClose) : ConnectionPhase.Close;
                }

                BytesReceived += transferred;
                Touch();
                _lastReceive = transferred;
                _sendOffset = 0;
                _sendCount = transferred;
                if (Context.Options.MaxBytesPerConnection is { } maxBytes && BytesReceived > maxBytes)
                {
                    // Echo up to the limit, then close gracefully; the rest is not echoed.
                    _sendCount -= (int)Math.Min(transferred, BytesReceived - maxBytes);
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

            case ConnectionPhase.ProxyHeader:
                // A client that closes before its header is complete is rejected (the close becomes a rejection).
                return transferred == 0 ? ConnectionPhase.Close : OnProxyHeaderBytes(transferred);

            case ConnectionPhase.Drain:
                // Discarded: the server is stopping and echoes nothing more; end when the client closes.
                return transferred == 0 ? ConnectionPhase.Close : ConnectionPhase.Drain;

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
    /// Closing gracefully after an echo (stop, lifetime, byte limit): send FIN behind the echoed data, then read until
    /// the client closes, because closing with unread data would reset the connection and destroy echo data the client
    /// has not read yet. <see cref="EchoServerOptions.ShutdownTimeout"/> bounds the wait.
    /// </summary>
    private ConnectionPhase BeginDrain()
    {
        // A fault's close drains as the limits do, unless it must reset (limit:then=reset).
        if (CloseReason is not (ConnectionCloseReason.ServerStopping or ConnectionCloseReason.LifetimeExceeded
            or ConnectionCloseReason.ByteLimitExceeded or ConnectionCloseReason.FaultInjected) || Faults is { ResetOnClose: true })
        {
            return ConnectionPhase.Close;
        }

        Touch();
        try
        {
            Socket!.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return ConnectionPhase.Close;
        }

        return ConnectionPhase.Drain;
    }

    /// <summary>
    /// More of the connection's start arrived while its PROXY header is awaited: read on, reject, or, once accepted,
    /// report it and echo whatever came after the header as if it had just been received.
    /// </summary>
    private ConnectionPhase OnProxyHeaderBytes(int transferred)
    {
        Touch();
        _headerReceived += transferred;
        var buffer = Buffer!;
        switch (ReadProxyHeader(buffer.AsSpan(0, _headerReceived), out var consumed))
        {
            case ProxyParseStatus.Incomplete:
                return ConnectionPhase.ProxyHeader;
            case ProxyParseStatus.Invalid:
                return ConnectionPhase.Close;
        }

        StartServing();
        ReportAccepted();
        var rest = _headerReceived - consumed;
        if (rest == 0)
        {
            if (Context.Options.WaitForDataBeforeAllocatingBuffer)
            {
                ReleaseBuffer();
            }

            return FirstStepOrGreeting;
        }

        // Once per connection: the client's first bytes move to where a receive would have put them.
        buffer.AsSpan(consumed, rest).CopyTo(buffer);
        if (PendingGreeting is not null)
        {
            // Echoed once the greeting is out (see OnGreetingSent).
            _afterGreeting = rest;
            return ConnectionPhase.Greet;
        }

        return Advance(ConnectionPhase.Receive, SocketError.Success, rest);
    }
}
