using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Authentication;

namespace EchoKit.Internal;

/// <summary>Which datagram count an observable instrument reads.</summary>
internal enum DatagramCount
{
    Received,
    Echoed,
    Dropped,
}

/// <summary>
/// The <c>EchoKit</c> meter, named after Kestrel's <c>kestrel.*</c> instruments. Byte counts are observable
/// counters read from the connection counters on collection, so the echo hot path records nothing.
/// </summary>
internal sealed class EchoServerMetrics : IDisposable
{
    public const string MeterName = "EchoKit";

    /// <summary>The first part of an echo server's instrument names (<c>echokit.active_connections</c>).</summary>
    public const string ServerPrefix = "echokit";

    /// <summary>The first part of a fault proxy's instrument names (<c>echokit.proxy.active_connections</c>).</summary>
    public const string ProxyPrefix = "echokit.proxy";

    private static readonly double[] DurationBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
    private static readonly double[] HandshakeBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly UpDownCounter<long> _activeConnections;
    private readonly Histogram<double> _connectionDuration;
    private readonly Counter<long> _rejectedConnections;
    private readonly Histogram<double> _tlsHandshakeDuration;
    private readonly UpDownCounter<long> _activeTlsHandshakes;
    private readonly Counter<long> _faultsApplied;

    // A meter from an IMeterFactory outlives this server (the factory owns and may share it), so the
    // observable callbacks stop reporting once the server has stopped instead of pinning stale counts.
    private volatile bool _disposed;

    public EchoServerMetrics(IMeterFactory? meterFactory, ServerStatistics statistics, ServerListeners listeners, string prefix = ServerPrefix)
    {
        if (meterFactory is null)
        {
            _meter = new Meter(MeterName);
            _ownsMeter = true;
        }
        else
        {
            _meter = meterFactory.Create(new MeterOptions(MeterName));
        }

        _activeConnections = _meter.CreateUpDownCounter<long>(
            prefix + ".active_connections", "{connection}", "Number of connections currently being echoed.");
        _connectionDuration = _meter.CreateHistogram(
            prefix + ".connection.duration", "s", "The duration of connections on the server.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _rejectedConnections = _meter.CreateCounter<long>(
            prefix + ".rejected_connections", "{connection}", "Number of connections rejected by the server (connection limit or stopping).");
        _meter.CreateObservableCounter(
            prefix + ".bytes_received", () => _disposed ? [] : statistics.BytesPerListener(received: true), "By", "Bytes received from clients.");
        _meter.CreateObservableCounter(
            prefix + ".bytes_sent", () => _disposed ? [] : statistics.BytesPerListener(received: false), "By", "Bytes echoed to clients.");
        _tlsHandshakeDuration = _meter.CreateHistogram(
            prefix + ".tls_handshake.duration", "s", "The duration of TLS handshakes on the server.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = HandshakeBuckets });
        _activeTlsHandshakes = _meter.CreateUpDownCounter<long>(
            prefix + ".active_tls_handshakes", "{handshake}", "Number of TLS handshakes that are currently in progress on the server.");
        _faultsApplied = _meter.CreateCounter<long>(
            prefix + ".faults.applied", "{fault}", "Fault rules applied to connections, once per rule and connection at accept, by fault.type (and the listener's tags).");
        _meter.CreateObservableCounter(
            prefix + ".datagrams_received", () => _disposed ? [] : ObserveDatagrams(listeners, DatagramCount.Received), "{datagram}", "UDP datagrams received.");
        _meter.CreateObservableCounter(
            prefix + ".datagrams_sent", () => _disposed ? [] : ObserveDatagrams(listeners, DatagramCount.Echoed), "{datagram}", "UDP datagrams echoed to their source.");
        _meter.CreateObservableCounter(
            prefix + ".dropped_datagrams", () => _disposed ? [] : ObserveDatagrams(listeners, DatagramCount.Dropped), "{datagram}",
            "UDP datagrams dropped without an answer, by echokit.drop_reason: blocked_source, rate_limited, oversized, send_failed, fault_injected.");
    }

    public void ConnectionStarted(EchoListener listener) => _activeConnections.Add(1, listener.Tags);

    public void ConnectionEnded(EchoListener listener, ConnectionCloseReason reason, long startTimestamp)
    {
        _activeConnections.Add(-1, listener.Tags);
        if (_connectionDuration.Enabled)
        {
            var tags = listener.Tags;
            var errorType = ErrorType(reason);
            if (errorType is not null)
            {
                tags.Add("error.type", errorType);
            }

            _connectionDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        }
    }

    public void ConnectionRejected(EchoListener listener) => _rejectedConnections.Add(1, listener.Tags);

    /// <summary>A connection started (<see cref="ConnectionStarted"/>) that turned out not to be one: rejected while it awaited its PROXY header (the rejection is counted too).</summary>
    public void ConnectionNeverServed(EchoListener listener) => _activeConnections.Add(-1, listener.Tags);

    /// <summary>Counts the rules a connection got at accept; recorded once per faulted connection, never per message.</summary>
    public void FaultsApplied(EchoListener listener, IReadOnlyList<EchoFault> rules)
    {
        if (!_faultsApplied.Enabled)
        {
            return;
        }

        foreach (var rule in rules)
        {
            FaultApplied(listener.Tags, rule.Type);
        }
    }

    /// <summary>One application of a rule of <paramref name="type"/> on the listener with <paramref name="listenerTags"/> (a connection, or a UDP datagram).</summary>
    public void FaultApplied(TagList listenerTags, EchoFaultType type)
    {
        if (_faultsApplied.Enabled)
        {
            listenerTags.Add("fault.type", FaultTypes.Of(type).Name);
            _faultsApplied.Add(1, listenerTags);
        }
    }

    public void TlsHandshakeStarted(EchoListener listener) => _activeTlsHandshakes.Add(1, listener.Tags);

    /// <summary>Records a handshake's duration with <c>tls.protocol.version</c> when it succeeded, or <c>error.type</c> when not.</summary>
    public void TlsHandshakeEnded(EchoListener listener, long startTimestamp, SslProtocols? protocol, string? errorType)
    {
        _activeTlsHandshakes.Add(-1, listener.Tags);
        if (_tlsHandshakeDuration.Enabled)
        {
            var tags = listener.Tags;
            if (protocol is { } p && ProtocolVersion(p) is { } version)
            {
                tags.Add("tls.protocol.version", version);
            }

            if (errorType is not null)
            {
                tags.Add("error.type", errorType);
            }

            _tlsHandshakeDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        }
    }

    /// <summary>Datagram counts per UDP listener; dropped ones once per reason, tagged <c>echokit.drop_reason</c>.</summary>
    private static List<Measurement<long>> ObserveDatagrams(ServerListeners listeners, DatagramCount count)
    {
        var udp = listeners.UdpCounting;
        var measurements = new List<Measurement<long>>(udp.Count * (count == DatagramCount.Dropped ? 5 : 1));
        foreach (var listener in udp)
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
                    measurements.Add(Dropped(counters.FaultDropped, "fault_injected"));
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

    public void Dispose()
    {
        _disposed = true;
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private static string? ErrorType(ConnectionCloseReason reason) => reason switch
    {
        ConnectionCloseReason.ConnectionReset => "connection_reset",
        ConnectionCloseReason.IdleTimeout => "idle_timeout",
        ConnectionCloseReason.Error => "io_error",
        ConnectionCloseReason.SendTimeout => "send_timeout",
        ConnectionCloseReason.TlsHandshakeFailed => "tls_handshake_failed",
        ConnectionCloseReason.FaultInjected => "fault_injected",
        ConnectionCloseReason.UpstreamUnavailable => "upstream_unavailable",
        _ => null,
    };

    /// <summary>The OpenTelemetry form of a TLS version ("1.2", "1.3"); the obsolete enum members are matched by value.</summary>
    private static string? ProtocolVersion(SslProtocols protocol) => (int)protocol switch
    {
        0x3000 => "1.3",
        0x0C00 => "1.2",
        0x0300 => "1.1",
        0x00C0 => "1.0",
        _ => null,
    };
}
