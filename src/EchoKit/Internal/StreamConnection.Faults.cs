using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>The fault rules of a stream connection (see docs/FAULTS.md): decided once at accept, in <see cref="Begin"/>.</summary>
internal abstract partial class StreamConnection
{
    /// <summary>
    /// The faults decided for this connection at accept, or <see langword="null"/> for the usual connection without any,
    /// so a pump pays one null test per receive. TLS listeners get none yet.
    /// </summary>
    protected ConnectionFaults? Faults { get; private set; }

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
            SetAbortiveClose();
        }

        Context.Metrics.FaultsApplied(Listener, Faults.Rules);
        Context.Connections.CountRejected(Listener, 1);
        Reject(ConnectionRejectionReason.FaultInjected);
        return true;
    }

    /// <summary>Called after <see cref="Abort"/> closed the socket: a pump parked by a fault must wake to see it.</summary>
    protected virtual void OnAborted()
    {
    }

    /// <summary>Linger 0, so closing the socket sends RST instead of FIN (on a Unix socket it closes as usual).</summary>
    protected void SetAbortiveClose()
    {
        try
        {
            if (Socket is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed; the peer sees whatever close came first.
        }
    }
}
