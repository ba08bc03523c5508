using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// The live stream connections (TCP, Unix socket and TLS) in one intrusive list, under one lock that only accept,
/// close, the housekeeping timer, stop and statistics take; the echo hot paths never do. Admission and the
/// per-listener totals change under the same lock, so <see cref="ServerStatistics"/> reads them at one instant.
/// </summary>
internal sealed class ConnectionSet
{
    private readonly Lock _lock = new();
    private readonly ConnectionAdmission _admission;
    private StreamConnection? _head;
    private long _live;
    private bool _stopping;
    private TaskCompletionSource? _drained;

    public ConnectionSet(EchoServerOptions options) => _admission = new ConnectionAdmission(options);

    /// <summary>Connections accepted and not yet fully closed and released.</summary>
    public long Live => Volatile.Read(ref _live);

    /// <summary>
    /// Admits a connection (TLS ones before their handshake) unless a limit refuses it, or it would take a descriptor
    /// the runtime needs (<paramref name="leavesDescriptorMargin"/> false); counts it on its listener either way.
    /// </summary>
    public bool TryAdd(StreamConnection connection, bool leavesDescriptorMargin, out ConnectionRejectionReason rejection)
    {
        var counters = connection.Listener.Counters;
        lock (_lock)
        {
            rejection = _stopping ? ConnectionRejectionReason.ServerStopping : ConnectionRejectionReason.DescriptorLimitReached;
            if (!_stopping && leavesDescriptorMargin && _admission.TryAdmit(connection.RemoteAddress, out rejection))
            {
                connection.Next = _head;
                if (_head is not null)
                {
                    _head.Previous = connection;
                }

                _head = connection;
                _live++;
                if (!connection.AwaitsProxyHeader)
                {
                    counters.Accepted++;
                }

                return true;
            }

            counters.Rejected++;
            return false;
        }
    }

    /// <summary>
    /// A connection admitted while it awaited its PROXY header has it: its real client's address now takes its
    /// per-address slot (<paramref name="remoteAddress"/>, when a per-address limit is on), and it counts as accepted.
    /// </summary>
    public bool TryConfirmProxied(StreamConnection connection, IPAddress? remoteAddress, out ConnectionRejectionReason rejection)
    {
        lock (_lock)
        {
            if (remoteAddress is not null && !_admission.TryAdmitAddress(remoteAddress))
            {
                rejection = ConnectionRejectionReason.MaxConnectionsPerAddressExceeded;
                return false;
            }

            connection.Listener.Counters.Accepted++;
            rejection = default;
            return true;
        }
    }

    /// <summary>Counts connections closed at once without a connection object (shed at the descriptor limit).</summary>
    public void CountRejected(EchoListener listener, int count)
    {
        lock (_lock)
        {
            listener.Counters.Rejected += count;
        }
    }

    /// <summary>
    /// Takes a closed connection out of the set and folds its counts into its listener's totals; one turned away
    /// while it awaited its PROXY header (<paramref name="rejected"/>) counts as rejected, never as accepted.
    /// </summary>
    public void Remove(StreamConnection connection, ConnectionCloseReason reason, bool rejected = false)
    {
        var counters = connection.Listener.Counters;
        lock (_lock)
        {
            if (rejected)
            {
                counters.Rejected++;
            }

            if (connection.Previous is not null)
            {
                connection.Previous.Next = connection.Next;
            }
            else
            {
                _head = connection.Next;
            }

            if (connection.Next is not null)
            {
                connection.Next.Previous = connection.Previous;
            }

            connection.Next = connection.Previous = null;
            _admission.Release(connection.RemoteAddress);
            counters.ClosedBytesReceived += connection.BytesReceived;
            counters.ClosedBytesSent += connection.BytesSentToClient;
            if (reason == ConnectionCloseReason.TlsHandshakeFailed)
            {
                counters.TlsHandshakeFailures++;
            }
        }
    }

    /// <summary>Called last when a connection is released; completes a stop's drain when it was the last.</summary>
    public void Released()
    {
        TaskCompletionSource? drained;
        lock (_lock)
        {
            if (--_live > 0 || !_stopping)
            {
                return;
            }

            drained = _drained;
        }

        drained?.TrySetResult();
    }

    /// <summary>Refuses new connections, applies the action to every live one, and returns a task that completes when none is left.</summary>
    public Task BeginShutdown(Action<StreamConnection> action)
    {
        lock (_lock)
        {
            if (!_stopping)
            {
                _stopping = true;
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_live == 0)
                {
                    _drained.TrySetResult();
                }
            }

            ForEachLocked(action);
            return _drained!.Task;
        }
    }

    /// <summary>Applies <paramref name="action"/> to every live connection, under the lock.</summary>
    public void ForEach(Action<StreamConnection> action)
    {
        lock (_lock)
        {
            ForEachLocked(action);
        }
    }

    /// <summary>Runs <paramref name="read"/> under the lock, with the first live connection: everything it reads is of one instant.</summary>
    public T Read<T>(Func<StreamConnection?, T> read)
    {
        lock (_lock)
        {
            return read(_head);
        }
    }

    private void ForEachLocked(Action<StreamConnection> action)
    {
        for (var c = _head; c is not null; c = c.Next)
        {
            action(c);
        }
    }
}
