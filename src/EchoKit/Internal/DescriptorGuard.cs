using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// A server's defence at the descriptor limit, shared by its stream listeners. Admission refuses a socket whose
/// descriptor falls in the margin the runtime needs (it starts threads with a pipe each; a failed one aborts the
/// process with "Out of memory."), and an accept that fails for lack of descriptors is answered by shedding the
/// waiting connections through the <see cref="ReserveDescriptor"/>, so no client is left unanswered in the backlog.
/// Both count as rejected with <see cref="ConnectionRejectionReason.DescriptorLimitReached"/>, with a rate-limited
/// warning (event 46).
/// </summary>
internal sealed class DescriptorGuard : IDisposable
{
    // A shed closes at most this many connections before the accept loop gets a turn again.
    private const int MaxShedPerAccept = 64;

    private readonly ServerContext _context;
    private readonly DescriptorBudget _budget;
    private readonly ReserveDescriptor _reserve;
    private readonly LogThrottle _warnings = new();
    private readonly LogThrottle _reserveWarnings = new(TimeSpan.FromSeconds(10));

    private DescriptorGuard(ServerContext context, DescriptorBudget budget, ReserveDescriptor reserve)
    {
        _context = context;
        _budget = budget;
        _reserve = reserve;
    }

    /// <summary>
    /// Opens the reserve and measures the descriptors once the listeners are bound (so they count as open), and warns
    /// (event 6) when <see cref="EchoServerOptions.MaxConnections"/> cannot fit; <see langword="null"/> where
    /// descriptors cannot be measured (Windows).
    /// </summary>
    public static DescriptorGuard? Create(ServerContext context, int streamListeners)
    {
        if (!DescriptorLimit.IsSupported)
        {
            return null;
        }

        // The reserve first, so the budget counts it among the open descriptors.
        var reserve = new ReserveDescriptor();
        if (DescriptorLimit.Measure(streamListeners) is not { } budget)
        {
            reserve.Dispose();
            return null;
        }

        var maxConnections = context.Options.MaxConnections;
        if (!budget.Fits(maxConnections))
        {
            DescriptorLog.LimitBelowMaxConnections(context.Logger, maxConnections, budget.SoftLimit, budget.OpenAtStart, budget.Margin, budget.Capacity);
        }

        return new DescriptorGuard(context, budget, reserve);
    }

    /// <summary>
    /// Whether serving <paramref name="socket"/> leaves the runtime its margin. The kernel hands out the lowest free
    /// descriptor, so a descriptor number at or above the threshold means the process is that close to its limit: one
    /// compare per accept, and it holds whatever else in the process opens files.
    /// </summary>
    public bool LeavesMargin(Socket socket) => !_budget.IsInMargin(socket.SafeHandle.DangerousGetHandle());

    /// <summary>The rate-limited warning for a connection refused at the limit (the debug line and the event come with the rejection).</summary>
    public void WarnRejected(EchoListener listener) => DescriptorLog.Rejected(_context.Logger, _warnings, listener.EndPoint, _budget);

    /// <summary>After an accept failed with <c>EMFILE</c>/<c>ENFILE</c>: closes what waits on the listener, counted as rejected; returns how many.</summary>
    public int Shed(EchoListener listener, Socket listeningSocket)
    {
        var closed = _reserve.Shed(listeningSocket, MaxShedPerAccept, out var restored);
        if (!restored && _reserveWarnings.TryEnter(Stopwatch.GetTimestamp(), out _))
        {
            DescriptorLog.ReserveLost(_context.Logger);
        }

        if (closed > 0)
        {
            // Accepted and closed below the runtime (no Socket object, no endpoints): counted and reported here.
            const ConnectionRejectionReason Reason = ConnectionRejectionReason.DescriptorLimitReached;
            _context.Connections.CountRejected(listener, closed);
            WarnRejected(listener);
            for (var i = 0; i < closed; i++)
            {
                _context.Metrics.ConnectionRejected(listener);
                EchoServerLog.ConnectionRejected(_context.Logger, null, listener.EndPoint, Reason);
                _context.Server.RaiseConnectionRejected(listener.EndPoint, null, Reason);
            }
        }

        return closed;
    }

    public void Dispose() => _reserve.Dispose();
}
