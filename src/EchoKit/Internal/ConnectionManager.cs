using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// The set of live connections and the server-wide counters, under one lock that only accept, close,
/// timers, stop and statistics take; the echo hot path never does.
/// </summary>
internal sealed class ConnectionManager
{
    private readonly Lock _lock = new();
    private readonly int _maxConnections;
    private readonly int? _maxConnectionsPerAddress;
    private readonly int? _maxConnectionRate;
    private readonly Dictionary<IPAddress, int> _connectionsPerAddress = [];
    private double _rateTokens;
    private long _rateRefilledAt;
    private readonly List<EchoListener> _listeners = [];
    private EchoConnection? _head;
    private long _active;
    private long _live;
    private bool _stopping;
    private TaskCompletionSource? _drained;

    public ConnectionManager(EchoServerOptions options)
    {
        _maxConnections = options.MaxConnections;
        _maxConnectionsPerAddress = options.MaxConnectionsPerAddress;
        _maxConnectionRate = options.MaxConnectionRate;
        _rateTokens = options.MaxConnectionRate ?? 0;
        _rateRefilledAt = Stopwatch.GetTimestamp();
    }

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
            var perAddress = 0;
            ConnectionRejectionReason? refused =
                _stopping ? ConnectionRejectionReason.ServerStopping
                : !TakeRateToken() ? ConnectionRejectionReason.RateLimited
                : _active >= _maxConnections ? ConnectionRejectionReason.MaxConnectionsExceeded
                : connection.RemoteAddress is { } address && _maxConnectionsPerAddress is { } maxPerAddress
                    && _connectionsPerAddress.TryGetValue(address, out perAddress) && perAddress >= maxPerAddress
                    ? ConnectionRejectionReason.MaxConnectionsPerAddressExceeded
                : null;
            if (refused is { } reason)
            {
                rejection = reason;
                listener.Counters.Rejected++;
                return false;
            }

            if (connection.RemoteAddress is { } remote && _maxConnectionsPerAddress is not null)
            {
                _connectionsPerAddress[remote] = perAddress + 1;
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
            if (connection.RemoteAddress is { } address && _connectionsPerAddress.TryGetValue(address, out var count))
            {
                if (count <= 1)
                {
                    _connectionsPerAddress.Remove(address);
                }
                else
                {
                    _connectionsPerAddress[address] = count - 1;
                }
            }

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

    /// <summary>Token bucket of <see cref="EchoServerOptions.MaxConnectionRate"/>: refills continuously, holds one second's worth.</summary>
    private bool TakeRateToken()
    {
        if (_maxConnectionRate is not { } rate)
        {
            return true;
        }

        var now = Stopwatch.GetTimestamp();
        _rateTokens = Math.Min(rate, _rateTokens + (Stopwatch.GetElapsedTime(_rateRefilledAt, now).TotalSeconds * rate));
        _rateRefilledAt = now;
        if (_rateTokens < 1)
        {
            return false;
        }

        _rateTokens--;
        return true;
    }

    private void ForEachLocked(Action<EchoConnection> action)
    {
        for (var c = _head; c is not null; c = c.Next)
        {
            action(c);
        }
    }
}
