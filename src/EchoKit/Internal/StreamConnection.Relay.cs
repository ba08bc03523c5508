using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A fault proxy's connection: two relays of the one pump, each one of these objects with its own buffer, phase and
/// stages. The accepted one (the primary, in the connection set) connects upstream, then relays client to upstream
/// (<see cref="FaultDirection.Upstream"/>); its peer, rented from the same pool, relays upstream to client
/// (<see cref="FaultDirection.Downstream"/>). A relay that reads end of stream, or reaches a <c>limit</c>, passes the end
/// on (FIN on its sink) and ends alone, so half-close goes through per direction and the other direction still
/// delivers what is in flight; a relay that ends any other way (reset, error, a fault's reset or close, stop, a time
/// limit) ends both, and a reset on one side resets the other. The last relay to end runs the primary's close sequence.
/// </summary>
internal sealed partial class StreamConnection
{
    /// <summary>The direction this object relays, or <see langword="null"/> for an echo connection.</summary>
    private FaultDirection? _stream;

    /// <summary>A relay's second socket transport, its sink: the upstream socket (primary) or the client's (peer); owned and pooled with it.</summary>
    private SocketTransport? _otherSocket;

    /// <summary>The other relay of a proxied connection, once the upstream connection is made.</summary>
    private StreamConnection? _peer;

    /// <summary>Where <see cref="Touch"/> marks activity: this object, or for a peer relay its primary, whose time limits see both directions.</summary>
    private StreamConnection _activity;

    /// <summary>On the primary, from accept until its downstream relay starts: that relay's faults, decided with the primary's.</summary>
    private ConnectionFaults? _downstreamFaults;

    /// <summary>The rules the accepted event lists: a proxied connection's of both directions.</summary>
    private IReadOnlyList<EchoFault>? AcceptedRules => _downstreamFaults is { } downstream
        ? [.. Faults?.Rules ?? [], .. downstream.Rules]
        : Faults?.Rules;

    /// <summary>On the primary: the relays still running; the one that brings it to 0 closes the connection.</summary>
    private int _relaysRunning;

    /// <summary>The pump ended its sink's sending side (FIN): a relay that did has passed its end on and leaves the other running.</summary>
    private bool _sentFin;

    private bool IsRelay => _stream is not null;

    private bool IsPrimary => _stream == FaultDirection.Upstream;

    /// <summary>A primary relay that has no upstream connection yet: its first step is <see cref="ConnectionPhase.Connect"/>.</summary>
    private bool NeedsUpstream => _stream == FaultDirection.Upstream && _peer is null;

    /// <summary>The bytes written to the client: the downstream relay's for a proxied connection, read under the set's lock for statistics.</summary>
    public long BytesSentToClient => Volatile.Read(ref (_peer is { } peer && IsPrimary ? ref peer.BytesSent : ref BytesSent));

    /// <summary>The primary's first step: open the upstream connection (bounded by the proxy's connect timeout, see <see cref="EnforceLimits"/>).</summary>
    private bool StartConnect()
    {
        SetPhase(ConnectionPhase.Connect);
        var upstream = Context.Upstream!;
        _otherSocket ??= new SocketTransport(this);

        // A full fence between making the sink visible and testing for an abort, which tests them the other way round.
        Interlocked.Exchange(ref _sink, _otherSocket);

        // Aborted before the sink existed (a stop): nothing to connect for.
        ObjectDisposedException.ThrowIf(IsClosing, this);

        return _otherSocket.Connect(upstream.EndPoint, Context.Options.NoDelay);
    }

    /// <summary>The upstream connection is made (or not): start the downstream relay and read the client, or close the client.</summary>
    private ConnectionPhase OnConnected(SocketError error)
    {
        error = _otherSocket!.CompleteConnect();
        if (error != SocketError.Success)
        {
            if (TryDecide(ConnectionCloseReason.UpstreamUnavailable, error))
            {
                EchoServerLog.UpstreamUnavailable(Context.Logger, Id, Context.Upstream!.EndPoint, error);
            }

            return ConnectionPhase.Close;
        }

        if (IsClosing)
        {
            return ConnectionPhase.Close;
        }

        var peer = Context.ConnectionPool.Rent();
        peer.BeginDownstream(this, _otherSocket.Socket!, _socketTransport.Socket!);
        _relaysRunning = 2;
        Volatile.Write(ref _peer, peer);
        ThreadPool.UnsafeQueueUserWorkItem(peer, preferLocal: false);
        return FirstStep;
    }

    /// <summary>Binds a pooled object as the downstream relay of <paramref name="primary"/>: from the upstream socket to the client's.</summary>
    private void BeginDownstream(StreamConnection primary, Socket upstream, Socket client)
    {
        Id = primary.Id;
        Listener = primary.Listener;
        _stream = FaultDirection.Downstream;
        _peer = primary;
        _activity = primary;
        _transport = _socketTransport;
        _socketTransport.Bind(upstream, nonBlocking: true);
        _otherSocket ??= new SocketTransport(this);
        _otherSocket.Bind(client, nonBlocking: true);
        _sink = _otherSocket;
        _phase = (int)ConnectionPhase.Receive;
        _resume = FirstStep;
        _receiveBeforeWaiting = Context.Options.WaitForDataBeforeAllocatingBuffer;
        _sentFin = false;
        ResetClosing();
        GreetingDone();
        BytesReceived = BytesSent = 0;
        _faultsChanged = 0;
        _faultsVersion = primary._faultsVersion;
        Faults = primary._downstreamFaults;
        primary._downstreamFaults = null;
        StartServing();
    }

    /// <summary>
    /// Where an echo connection would drain, a relay ends: after a <c>limit</c>, FIN on its sink behind the bytes relayed
    /// and the end of this relay alone (the other direction still delivers what is in flight); after anything else, at
    /// once, which ends both. There is no drain: the other direction's bytes would keep coming.
    /// </summary>
    private ConnectionPhase EndRelayStream()
    {
        if (Faults is { ResetOnClose: true } || !IsClosing || CloseReason is not (ConnectionCloseReason.ByteLimitExceeded or ConnectionCloseReason.FaultInjected))
        {
            return ConnectionPhase.Close;
        }

        _afterCloseSend = ConnectionPhase.Close;
        return ConnectionPhase.CloseSend;
    }

    /// <summary>
    /// One relay's pump is over. An end passed on (FIN) leaves the other relay running; any other end decides the
    /// connection's reason (first wins, on the primary) and ends the other relay. The last relay closes the connection.
    /// </summary>
    private void EndRelay()
    {
        MarkCloseStarted();
        var reason = DecideFinalReason();
        var primary = IsPrimary ? this : _peer!;
        var reset = Faults?.End() == true || reason == ConnectionCloseReason.ConnectionReset;
        ReleaseBuffer();
        if (!_sentFin || reset)
        {
            if (!IsPrimary)
            {
                primary.TryDecide(reason, CloseError);
            }

            if (reset)
            {
                // RST on both sides: the abortive close has to be set before the sockets close.
                _transport.SetAbortiveClose();
                _sink.SetAbortiveClose();
            }

            primary.Abort(reason);
        }

        if (IsPrimary && Volatile.Read(ref _peer) is null)
        {
            Finish();
        }
        else if (Interlocked.Decrement(ref primary._relaysRunning) == 0)
        {
            primary.Finish();
        }
    }

    /// <summary>After <see cref="Abort"/> of either relay: closes both sockets and wakes the other relay if a fault parked it.</summary>
    private void AbortRelays(ConnectionCloseReason reason)
    {
        _sink.Abort();
        if (Volatile.Read(ref _peer) is { } peer)
        {
            peer.TryDecide(reason, SocketError.Success);
            peer._transport.Abort();
            peer._sink.Abort();
            peer.WakeParkedPump();
        }
    }

    /// <summary>
    /// The reason a proxied connection reports: the first decided, except that a client's close after the other
    /// direction ended on purpose (a limit) reports that.
    /// </summary>
    private ConnectionCloseReason RelayedReason(ConnectionCloseReason reason) =>
        reason == ConnectionCloseReason.ClientClosed && IsPrimary && _peer is { IsClosing: true } peer ? peer.CloseReason : reason;

    /// <summary>When the primary goes back to its pool: its downstream relay goes back too, and both forget the relay's state.</summary>
    private void ReleaseRelay()
    {
        _otherSocket?.Unbind();
        _activity = this;
        _selection = default;
        _downstreamFaults = null;
        var peer = _peer;
        _peer = null;
        _stream = null;
        _relaysRunning = 0;
        if (peer is not null && IsPrimaryOf(peer))
        {
            peer.ReleaseBuffer();
            peer.Release();
        }
    }

    private bool IsPrimaryOf(StreamConnection peer) => ReferenceEquals(peer._peer, this) && peer._stream == FaultDirection.Downstream;
}
