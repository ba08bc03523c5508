using System.Diagnostics.Metrics;

namespace EchoKit.Internal;

/// <summary>
/// The server's counters, read at one instant: stream connections and listener totals under the
/// <see cref="ConnectionSet"/>'s lock (where every admission and close changes them), UDP counters read outcome
/// first (see <see cref="UdpCounters.Read"/>), so no figure is ahead of the one it depends on.
/// </summary>
internal sealed class ServerStatistics(ConnectionSet connections, ServerListeners listeners)
{
    /// <summary>The counters of every listener, or of the listeners of one transport.</summary>
    public EchoServerStatistics Snapshot(EchoTransport? transport)
    {
        var stream = connections.Read(head =>
        {
            long active = 0, accepted = 0, rejected = 0, received = 0, sent = 0, handshakeFailures = 0;
            foreach (var listener in listeners.Stream)
            {
                if (transport is null || listener.Transport == transport)
                {
                    var counters = listener.Counters;
                    accepted += counters.Accepted;
                    rejected += counters.Rejected;
                    received += counters.ClosedBytesReceived;
                    sent += counters.ClosedBytesSent;
                    handshakeFailures += counters.TlsHandshakeFailures;
                }
            }

            for (var c = head; c is not null; c = c.Next)
            {
                if (transport is null || c.Listener.Transport == transport)
                {
                    active++;

                    // The pump counts a receive before its echo: read the echo first, so sent never runs ahead.
                    sent += c.BytesSentToClient;
                    received += Volatile.Read(ref c.BytesReceived);
                }
            }

            return (active, accepted, rejected, received, sent, handshakeFailures);
        });

        var datagrams = default(UdpCounters);
        if (transport is null or EchoTransport.Udp)
        {
            foreach (var listener in listeners.UdpCounting)
            {
                datagrams.Add(listener.ReadCounters());
            }
        }

        return new EchoServerStatistics(stream.active, stream.accepted, stream.rejected, stream.received + datagrams.BytesReceived, stream.sent + datagrams.BytesSent)
        {
            DatagramsReceived = datagrams.Received,
            DatagramsEchoed = datagrams.Echoed,
            DatagramsBlocked = datagrams.Blocked,
            DatagramsRateLimited = datagrams.RateLimited,
            DatagramsOversized = datagrams.Oversized,
            DatagramsSendFailed = datagrams.SendFailed,
            DatagramsFaultDropped = datagrams.FaultDropped,
            TlsHandshakeFailures = stream.handshakeFailures,
        };
    }

    /// <summary>Bytes received or sent per listener (stream ones, then UDP ones), tagged with the listener's tags.</summary>
    public Measurement<long>[] BytesPerListener(bool received)
    {
        var stream = listeners.Stream;
        var udp = listeners.UdpCounting;
        var measurements = new Measurement<long>[stream.Count + udp.Count];
        connections.Read(head =>
        {
            for (var i = 0; i < stream.Count; i++)
            {
                var listener = stream[i];
                var total = received ? listener.Counters.ClosedBytesReceived : listener.Counters.ClosedBytesSent;
                for (var c = head; c is not null; c = c.Next)
                {
                    if (c.Listener == listener)
                    {
                        total += received ? Volatile.Read(ref c.BytesReceived) : c.BytesSentToClient;
                    }
                }

                measurements[i] = new Measurement<long>(total, listener.Tags);
            }

            return 0;
        });

        for (var i = 0; i < udp.Count; i++)
        {
            var counters = udp[i].ReadCounters();
            measurements[stream.Count + i] = new Measurement<long>(received ? counters.BytesReceived : counters.BytesSent, udp[i].Tags);
        }

        return measurements;
    }
}
