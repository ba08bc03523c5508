using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>The fault rules of a stream connection (see docs/FAULTS.md): decided once at accept, in <see cref="Initialize"/> (or once the PROXY header named the client).</summary>
internal sealed partial class StreamConnection
{
    /// <summary>Set when the server's rules changed; the pump takes the change up at its next echo.</summary>
    private int _faultsChanged;

    /// <summary>The version of the server's rules <see cref="Faults"/> was decided from.</summary>
    private int _faultsVersion;

    /// <summary>The selector's answer at accept, kept so a proxy's other relay decides from the same one.</summary>
    private FaultPlan.Selection _selection;

    /// <summary>
    /// The faults decided for this connection at accept (or taken up since), or <see langword="null"/> for the usual
    /// connection without any, so a pump pays one null test per receive.
    /// </summary>
    private ConnectionFaults? Faults { get; set; }

    /// <summary>Whether the server's rules changed since this connection's faults were decided: the pump calls <see cref="TakeUpFaultChange"/>.</summary>
    private bool FaultsChanged => Volatile.Read(ref _faultsChanged) != 0;

    /// <summary>The server's rules changed: called for each live connection, under the set's lock, so it only raises a flag.</summary>
    public void OfferFaultChange()
    {
        Volatile.Write(ref _faultsChanged, 1);
        Volatile.Read(ref _peer)?.OfferPeerFaultChange();
    }

    /// <summary>A proxied connection's other relay takes up the change too.</summary>
    private void OfferPeerFaultChange() => Volatile.Write(ref _faultsChanged, 1);

    /// <summary>
    /// Called by the fault timer at the connection's deadline (under its gate): RST (<c>reset:after=</c>), or FIN after the
    /// echo in flight as a stop closes (<c>blackhole:close-after=</c>; TLS: close_notify and FIN).
    /// </summary>
    public void EndByFault(bool reset)
    {
        if (!reset)
        {
            BeginGracefulClose(ConnectionCloseReason.FaultInjected);
            return;
        }

        if (TryDecide(ConnectionCloseReason.FaultInjected, SocketError.Success))
        {
            Faults!.ResetOnClose = true;
            _transport.SetAbortiveClose();
            _sink.SetAbortiveClose();
        }

        Abort(ConnectionCloseReason.FaultInjected);
    }

    /// <summary>
    /// Turns the connection away when a <c>refuse</c> rule picked it: RST (linger 0) or FIN, before any byte, counted
    /// as a rejection (<see cref="ConnectionRejectionReason.FaultInjected"/>). Called by <see cref="EchoListener"/>'s
    /// admission before the connection takes a slot; returns whether it was refused (and released).
    /// </summary>
    public bool TryRefuseByFault()
    {
        if (Faults?.Refuse is not { } mode)
        {
            return false;
        }

        if (mode == EchoFaultClose.Reset)
        {
            _transport.SetAbortiveClose();
        }

        Context.Metrics.FaultsApplied(Listener, Faults.Rules);
        Context.Connections.CountRejected(Listener, 1);
        Reject(ConnectionRejectionReason.FaultInjected);
        return true;
    }

    /// <summary>
    /// Once a connection is in the set: a change of the rules made between its decision and its entry was not offered to
    /// it (the set did not hold it yet), so it is taken up at the first echo.
    /// </summary>
    private void CatchUpFaultChange()
    {
        if (Context.Faults.Current.Version != _faultsVersion)
        {
            OfferFaultChange();
        }
    }

    /// <summary>
    /// Between two echoes, on the pump: the per-echo rules of the server's new rule set replace this connection's, by
    /// the same draws as at accept (the seed and the id). Faults from the selector stay as they are.
    /// </summary>
    private void TakeUpFaultChange()
    {
        Volatile.Write(ref _faultsChanged, 0);
        if (Faults?.FromSelector == true)
        {
            return;
        }

        var plan = Context.Faults;
        var set = plan.Current;
        _faultsVersion = set.Version;
        var fresh = set.Decide(Id, plan.Seed, Listener, liveOnly: true, out var live, _stream);
        if (Faults is { } current)
        {
            Context.Metrics.FaultsApplied(Listener, current.TakeLive(live ?? []));
        }
        else if (fresh is not null)
        {
            Faults = fresh;
            Context.Metrics.FaultsApplied(Listener, fresh.Rules);
            fresh.Attach(this);
        }
    }

    /// <summary>The faults of this connection at accept: the selector's or the server's rules, and the rules' version.</summary>
    private void DecideFaults(FaultPlan plan, EchoListener listener)
    {
        _faultsChanged = 0;
        _faultsVersion = plan.Current.Version;
        _selection = plan.Select(Id, listener, LocalEndPoint, RemoteEndPoint);
        Faults = plan.DecideWith(_selection, Id, listener, _stream);

        // A proxied connection's downstream rules are decided now too, so the accepted event lists both directions'.
        _downstreamFaults = _stream == FaultDirection.Upstream ? plan.DecideWith(_selection, Id, listener, FaultDirection.Downstream) : null;
    }
}
