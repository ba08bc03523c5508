using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace EchoKit.Internal;

/// <summary>Which datagram count an observable instrument reads.</summary>
internal enum DatagramCount
{
    Received,
    Echoed,
    Dropped,
}

/// <summary>
/// The set of live connections (TCP and Unix socket ones, and TLS ones, in two lists) and the server-wide counters,
/// under one lock that only accept, close, timers, stop and statistics take; the echo hot paths never do. UDP
/// listeners keep their own counters and are only read here.
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
    private readonly List<UdpEchoListener> _udpListeners = [];
    private ServedConnection? _head;
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

    public void AddListener(UdpEchoListener listener)
    {
        lock (_lock)
        {
            _udpListeners.Add(listener);
        }
    }

    /// <summary>Admits a connection (TLS ones before their handshake) unless a limit refuses it; counts it either way.</summary>
    public bool TryAdd(ServedConnection connection, out ConnectionRejectionReason rejection)
    {
        lock (_lock)
        {
            if (!TryAdmitLocked(connection.Listener, connection.RemoteAddress, out rejection))
            {
                return false;
            }

            connection.Next = _head;
            if (_head is not null)
            {
                _head.Previous = connection;
            }

            _head = connection;
            return true;
        }
    }

    /// <summary>Takes a closed connection out of the set and folds its byte counts (and a failed handshake) into its listener's totals.</summary>
    public void Remove(ServedConnection connection)
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
            RemovedLocked(connection.Listener, connection.RemoteAddress, connection.BytesReceived, connection.BytesSent);
            if (connection.HandshakeFailed)
            {
                connection.Listener.Counters.TlsHandshakeFailures++;
            }
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

    /// <summary>Refuses new connections, applies the actions to every live one, and returns a task that completes when none is left.</summary>
    public Task BeginShutdown(Action<ServedConnection> action)
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
    public void ForEach(Action<ServedConnection> action)
    {
        lock (_lock)
        {
            ForEachLocked(action);
        }
    }

    /// <summary>The counters of every listener, or of the listeners of one transport.</summary>
    public EchoServerStatistics GetStatistics(EchoTransport? transport = null)
    {
        lock (_lock)
        {
            long active = 0, accepted = 0, rejected = 0, received = 0, sent = 0, handshakeFailures = 0;
            foreach (var listener in _listeners)
            {
                if (transport is null || listener.Transport == transport)
                {
                    accepted += listener.Counters.Accepted;
                    rejected += listener.Counters.Rejected;
                    received += listener.Counters.ClosedBytesReceived;
                    sent += listener.Counters.ClosedBytesSent;
                    handshakeFailures += listener.Counters.TlsHandshakeFailures;
                }
            }

            for (var c = _head; c is not null; c = c.Next)
            {
                if (transport is null || c.Listener.Transport == transport)
                {
                    active++;
                    received += c.BytesReceived;
                    sent += c.BytesSent;
                }
            }

            var datagrams = default(UdpCounters);
            if (transport is null or EchoTransport.Udp)
            {
                foreach (var listener in _udpListeners)
                {
                    datagrams.Add(listener.ReadCounters());
                }
            }

            return new EchoServerStatistics(active, accepted, rejected, received + datagrams.BytesReceived, sent + datagrams.BytesSent)
            {
                DatagramsReceived = datagrams.Received,
                DatagramsEchoed = datagrams.Echoed,
                DatagramsBlocked = datagrams.Blocked,
                DatagramsRateLimited = datagrams.RateLimited,
                DatagramsOversized = datagrams.Oversized,
                DatagramsSendFailed = datagrams.SendFailed,
                TlsHandshakeFailures = handshakeFailures,
            };
        }
    }

    public IEnumerable<Measurement<long>> ObserveBytes(bool received)
    {
        lock (_lock)
        {
            var measurements = new Measurement<long>[_listeners.Count + _udpListeners.Count];
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

            for (var i = 0; i < _udpListeners.Count; i++)
            {
                var counters = _udpListeners[i].ReadCounters();
                measurements[_listeners.Count + i] = new Measurement<long>(received ? counters.BytesReceived : counters.BytesSent, _udpListeners[i].Tags);
            }

            return measurements;
        }
    }

    /// <summary>Datagram counts per UDP listener; dropped ones once per reason, tagged <c>echokit.drop_reason</c>.</summary>
    public IEnumerable<Measurement<long>> ObserveDatagrams(DatagramCount count)
    {
        lock (_lock)
        {
            var measurements = new List<Measurement<long>>(_udpListeners.Count * (count == DatagramCount.Dropped ? 4 : 1));
            foreach (var listener in _udpListeners)
            {
                var counters = listener.ReadCounters();
                switch (count)
                {
                    case DatagramCount.Received:
                        measurements.Add(new Measurement<long>(counters.Received, listener.Tags));
                        break;
                    case DatagramCount.Echoed:
                        measurements.Add(new Measurement<long>(counters.Echoed, listener.Tags));
                        break;
                    default:
                        measurements.Add(Dropped(counters.Blocked, "blocked_source"));
                        measurements.Add(Dropped(counters.RateLimited, "rate_limited"));
                        measurements.Add(Dropped(counters.Oversized, "oversized"));
                        measurements.Add(Dropped(counters.SendFailed, "send_failed"));
                        break;
                }

                Measurement<long> Dropped(long value, string reason)
                {
                    var tags = listener.Tags;
                    tags.Add("echokit.drop_reason", reason);
                    return new Measurement<long>(value, tags);
                }
            }

            return measurements;
        }
    }

    private bool TryAdmitLocked(EchoListener listener, IPAddress? remoteAddress, out ConnectionRejectionReason rejection)
    {
        var perAddress = 0;
        ConnectionRejectionReason? refused =
            _stopping ? ConnectionRejectionReason.ServerStopping
            : !TakeRateToken() ? ConnectionRejectionReason.RateLimited
            : _active >= _maxConnections ? ConnectionRejectionReason.MaxConnectionsExceeded
            : remoteAddress is { } address && _maxConnectionsPerAddress is { } maxPerAddress
                && _connectionsPerAddress.TryGetValue(address, out perAddress) && perAddress >= maxPerAddress
                ? ConnectionRejectionReason.MaxConnectionsPerAddressExceeded
            : null;
        if (refused is { } reason)
        {
            rejection = reason;
            listener.Counters.Rejected++;
            return false;
        }

        if (remoteAddress is { } remote && _maxConnectionsPerAddress is not null)
        {
            _connectionsPerAddress[remote] = perAddress + 1;
        }

        _active++;
        _live++;
        listener.Counters.Accepted++;
        rejection = default;
        return true;
    }

    private void RemovedLocked(EchoListener listener, IPAddress? remoteAddress, long bytesReceived, long bytesSent)
    {
        _active--;
        if (remoteAddress is { } address && _connectionsPerAddress.TryGetValue(address, out var count))
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

        var counters = listener.Counters;
        counters.ClosedBytesReceived += bytesReceived;
        counters.ClosedBytesSent += bytesSent;
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

    private void ForEachLocked(Action<ServedConnection> action)
    {
        for (var c = _head; c is not null; c = c.Next)
        {
            action(c);
        }
    }
}
