using System.Diagnostics.Metrics;

namespace EchoKit.Internal;

/// <summary>
/// The set of live connections and the server-wide counters, under one lock that only accept, close,
/// timers, stop and statistics take; the echo hot path never does.
/// </summary>
internal sealed class ConnectionManager
{
    private readonly Lock _lock = new();
    private readonly int _maxConnections;
    private readonly List<EchoListener> _listeners = [];
    private EchoConnection? _head;
    private long _active;
    private long _live;
    private bool _stopping;
    private TaskCompletionSource? _drained;

    public ConnectionManager(int maxConnections) => _maxConnections = maxConnections;

    /// <summary>Connections accepted and not yet fully closed and returned to the pool.</summary>
    public long Live => Volatile.Read(ref _live);

    public void AddListener(EchoListener listener)
    {
        lock (_lock)
        {
            _listeners.Add(listener);
        }
    }

    /// <summary>Admits a connection unless the server is full or stopping; counts it either way.</summary>
    public bool TryAdd(EchoConnection connection, out ConnectionRejectionReason rejection)
    {
        var listener = connection.Listener;
        lock (_lock)
        {
            if (_stopping || _active >= _maxConnections)
            {
                rejection = _stopping ? ConnectionRejectionReason.ServerStopping : ConnectionRejectionReason.MaxConnectionsExceeded;
                listener.Counters.Rejected++;
                return false;
            }

            connection.Next = _head;
            if (_head is not null)
            {
                _head.Previous = connection;
            }

            _head = connection;
            _active++;
            _live++;
            listener.Counters.Accepted++;
            rejection = default;
            return true;
        }
    }

    /// <summary>Takes a closed connection out of the set and folds its byte counts into its listener's totals.</summary>
    public void Remove(EchoConnection connection)
    {
        lock (_lock)
        {
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
            _active--;
            var counters = connection.Listener.Counters;
            counters.ClosedBytesReceived += connection.BytesReceived;
            counters.ClosedBytesSent += connection.BytesSent;
        }
    }

    /// <summary>Called last when a connection is back in the pool; completes a stop's drain when it was the last.</summary>
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

    /// <summary>Refuses new connections, applies <paramref name="action"/> to every live one, and returns a task that completes when none is left.</summary>
    public Task BeginShutdown(Action<EchoConnection> action)
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

    public void ForEach(Action<EchoConnection> action)
    {
        lock (_lock)
        {
            ForEachLocked(action);
        }
    }

    public EchoServerStatistics GetStatistics()
    {
        lock (_lock)
        {
            long accepted = 0, rejected = 0, received = 0, sent = 0;
            foreach (var listener in _listeners)
            {
                accepted += listener.Counters.Accepted;
                rejected += listener.Counters.Rejected;
                received += listener.Counters.ClosedBytesReceived;
                sent += listener.Counters.ClosedBytesSent;
            }

            for (var c = _head; c is not null; c = c.Next)
            {
                received += c.BytesReceived;
                sent += c.BytesSent;
            }

            return new EchoServerStatistics(_active, accepted, rejected, received, sent);
        }
    }

    public IEnumerable<Measurement<long>> ObserveBytes(bool received)
    {
        lock (_lock)
        {
            var measurements = new Measurement<long>[_listeners.Count];
            for (var i = 0; i < _listeners.Count; i++)
            {
                var listener = _listeners[i];
                var total = received ? listener.Counters.ClosedBytesReceived : listener.Counters.ClosedBytesSent;
                for (var c = _head; c is not null; c = c.Next)
                {
                    if (c.Listener == listener)
                    {
                        total += received ? c.BytesReceived : c.BytesSent;
                    }
                }

                measurements[i] = new Measurement<long>(total, listener.Tags);
            }

            return measurements;
        }
    }

    private void ForEachLocked(Action<EchoConnection> action)
    {
        for (var c = _head; c is not null; c = c.Next)
        {
            action(c);
        }
    }
}
