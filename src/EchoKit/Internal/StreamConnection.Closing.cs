using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>Why and when a stream connection ends: the first-wins close reason, the time limits, and the socket-error classifier.</summary>
internal sealed partial class StreamConnection
{
    private const int Open = -1;

    private int _closeReason = Open;
    private bool _closeStarted;
    private volatile bool _handshakeTimedOut;

    /// <summary>The socket error that came with the close reason (<see cref="SocketError.Success"/> when none did).</summary>
    private SocketError CloseError { get; set; }

    private bool IsClosing => Volatile.Read(ref _closeReason) != Open;

    /// <summary>The decided close reason; meaningful only when <see cref="IsClosing"/>.</summary>
    private ConnectionCloseReason CloseReason => (ConnectionCloseReason)Volatile.Read(ref _closeReason);

    /// <summary>Whether the housekeeping timer ended the TLS handshake (rather than the client).</summary>
    private bool HandshakeTimedOut => _handshakeTimedOut;

    /// <summary>
    /// Decides a close reason if none was decided yet and closes the socket, so any pending operation completes at
    /// once. Call only under the set's lock (while the connection is surely live).
    /// </summary>
    public void Abort(ConnectionCloseReason reason)
    {
        TryDecide(reason, SocketError.Success);
        _transport.Abort();
        WakeParkedPump();
        if (IsRelay)
        {
            AbortRelays(reason);
        }
    }

    /// <summary>
    /// Closes after the in-flight echo is delivered (stop, lifetime): FIN (TLS: close_notify and FIN), then drain until
    /// the client closes. A connection waiting for data has nothing in flight: it gets FIN at once and is drained until
    /// the client closes. One that is sending finishes that echo first (the pump sees the decision after it). With
    /// <see cref="EchoServerOptions.WaitForDataBeforeAllocatingBuffer"/> off, a pending receive is woken as end of
    /// stream instead. One still reading its PROXY header or in its TLS handshake has nothing to finish and is closed.
    /// Call only under the set's lock.
    /// </summary>
    public void BeginGracefulClose(ConnectionCloseReason reason)
    {
        if (!TryDecide(reason, SocketError.Success))
        {
            return;
        }

        var phase = Phase;
        if (phase is ConnectionPhase.ProxyHeader or ConnectionPhase.Handshake || IsRelay)
        {
            // A relay has no drain: its peer's bytes would keep coming. Both directions close at once.
            Abort(reason);
        }
        else if (phase == ConnectionPhase.WaitForData && TryMovePhase(ConnectionPhase.WaitForData, ConnectionPhase.Stopped))
        {
            Touch();
            _transport.ShutdownSendWhileReceiving();
        }
        else if (!Context.Options.WaitForDataBeforeAllocatingBuffer && phase == ConnectionPhase.Receive)
        {
            _transport.WakeReceive();
        }
    }

    /// <summary>
    /// Enforces the handshake, idle and send timeouts, the lifetime limit and the drain bound; called by the server's
    /// housekeeping timer under the set's lock. <paramref name="limits"/> holds milliseconds, or -1 where a limit is off.
    /// </summary>
    public void EnforceLimits(long now, in TimeLimits limits)
    {
        var phase = Phase;
        var quietFor = now - Volatile.Read(ref LastActivity);
        if (phase == ConnectionPhase.ProxyHeader)
        {
            if (now - _startTick > limits.ProxyHeaderMs)
            {
                TimeOutProxyHeader();
            }
        }
        else if (phase == ConnectionPhase.Connect)
        {
            if (now - _startTick > limits.ConnectMs)
            {
                Abort(ConnectionCloseReason.UpstreamUnavailable);
            }
        }
        else if (phase == ConnectionPhase.Handshake)
        {
            if (now - _startTick > limits.HandshakeMs)
            {
                _handshakeTimedOut = true;
                Abort(ConnectionCloseReason.TlsHandshakeFailed);
            }
        }
        else if (phase is ConnectionPhase.Drain or ConnectionPhase.Stopped or ConnectionPhase.CloseSend)
        {
            // A graceful close waits for the client's FIN no longer than the shutdown timeout.
            if (quietFor > limits.DrainMs)
            {
                Abort(CloseReason);
            }
        }
        else if (limits.IdleMs >= 0 && quietFor > limits.IdleMs)
        {
            Abort(ConnectionCloseReason.IdleTimeout);
        }
        else if (limits.SendMs >= 0 && phase is ConnectionPhase.Send or ConnectionPhase.FaultSend or ConnectionPhase.Greet && quietFor > limits.SendMs)
        {
            Abort(ConnectionCloseReason.SendTimeout);
        }
        else if (limits.LifetimeMs >= 0 && now - _startTick > limits.LifetimeMs)
        {
            BeginGracefulClose(ConnectionCloseReason.LifetimeExceeded);
        }
    }

    /// <summary>Decides <paramref name="reason"/> unless a reason was decided first; returns whether this one won.</summary>
    private bool TryDecide(ConnectionCloseReason reason, SocketError error)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, Open) != Open)
        {
            return false;
        }

        CloseError = error;
        return true;
    }

    /// <summary>Decides the reason a failed operation's socket error means; an unexpected error is logged once.</summary>
    private void DecideFromError(SocketError error)
    {
        var reason = ReasonFor(error);
        if (TryDecide(reason, error) && reason == ConnectionCloseReason.Error)
        {
            EchoServerLog.ConnectionFailed(Context.Logger, Id, error);
        }
    }

    /// <summary>
    /// Contains an unexpected exception to this connection: logs it and closes the connection, unless the exception
    /// came from the close sequence itself (running it again could release this object twice).
    /// </summary>
    private void Fail(Exception exception)
    {
        EchoServerLog.ConnectionException(Context.Logger, Id, exception);
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        if (_closeStarted)
        {
            return;
        }

        try
        {
            _transport.Close();
            Close();
        }
        catch (Exception ex)
        {
            EchoServerLog.ConnectionException(Context.Logger, Id, ex);
        }
    }

    /// <summary>
    /// What a socket error means for the connection. A peer that went away (reset, aborted, unreachable, timed out)
    /// is normal; <see cref="SocketError.OperationAborted"/> is an operation ended by our own close, which an abort
    /// decides first, so reaching here with it means the peer's side ended it.
    /// </summary>
    private static ConnectionCloseReason ReasonFor(SocketError error) => error switch
    {
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.OperationAborted
            or SocketError.NetworkReset or SocketError.NotConnected or SocketError.TimedOut
            or SocketError.HostUnreachable or SocketError.NetworkUnreachable => ConnectionCloseReason.ConnectionReset,
        _ => ConnectionCloseReason.Error,
    };

    private void ResetClosing()
    {
        _closeReason = Open;
        _closeStarted = false;
        _handshakeTimedOut = false;
        CloseError = SocketError.Success;
    }

    private void MarkCloseStarted() => _closeStarted = true;

    /// <summary>A pump that ends without a reason decided ended on something unexpected.</summary>
    private ConnectionCloseReason DecideFinalReason()
    {
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        return CloseReason;
    }
}
