using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EchoKit.Tests;

/// <summary>TLS echo: byte-exact over SslStream, half-close, stalled and failed handshakes, client certificates, stop and limits.</summary>
public class TlsEchoTests
{
    [Fact]
    public async Task Echoes_every_byte_over_tls_and_closes_after_the_client_half_closes()
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions());
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);
        var listener = Assert.Single(server.Listeners);
        Assert.Equal(EchoTransport.Tls, listener.Transport);

        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            var payload = TestHelpers.RandomBytes(1024 * 1024, seed: 443);
            var echoed = new byte[payload.Length];
            var reading = stream.ReadExactlyWithinAsync(echoed);
            var random = new Random(443);
            for (var offset = 0; offset < payload.Length;)
            {
                var chunk = Math.Min(random.Next(1, 40_000), payload.Length - offset);
                await stream.WriteAllAsync(payload.AsMemory(offset, chunk));
                offset += chunk;
            }

            await reading;
            Assert.True(payload.AsSpan().SequenceEqual(echoed), "the TLS echo differs from what was sent");

            // close_notify: the server has echoed everything, so it closes too.
            await stream.ShutdownAsync();
            Assert.Empty(await stream.ReadToEndAsync());
        }

        await TestHelpers.WaitUntilAsync(() => !closed.IsEmpty, "the close event");
        var e = Assert.Single(closed);
        Assert.Equal(ConnectionCloseReason.ClientClosed, e.Reason);
        Assert.Equal(1024 * 1024, e.BytesReceived);
        Assert.Equal(1024 * 1024, e.BytesSent);
        var tls = server.GetStatistics(EchoTransport.Tls);
        Assert.Equal((0, 1, 1024 * 1024, 1024 * 1024), (tls.ActiveConnections, tls.AcceptedConnections, tls.BytesReceived, tls.BytesSent));
        Assert.Equal(0, tls.TlsHandshakeFailures);
        Assert.Equal(0, server.GetStatistics(EchoTransport.Tcp).AcceptedConnections);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_client_that_sends_everything_then_half_closes_gets_everything_back()
    {
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o => o.ReceiveBufferSize = 4096));
        var (stream, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            var payload = TestHelpers.RandomBytes(200 * 1024, seed: 7443);
            await stream.WriteAllAsync(payload);

            // End of stream without close_notify (a TCP half-close), as some clients do.
            socket.Shutdown(SocketShutdown.Send);

            var echoed = await stream.ReadToEndAsync();
            Assert.True(payload.AsSpan().SequenceEqual(echoed), "the echo after the half-close differs");
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_client_that_never_sends_a_ClientHello_is_closed_after_HandshakeTimeout()
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o => o.Tls.HandshakeTimeout = TimeSpan.FromMilliseconds(500)));
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);
        var clock = Stopwatch.StartNew();
        using var silent = await TestHelpers.ConnectAsync(server.TlsEndPoint());

        // Meanwhile a real client is served.
        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            await stream.WriteAllAsync("hello"u8.ToArray());
            var echo = new byte[5];
            await stream.ReadExactlyWithinAsync(echo);
            Assert.Equal("hello"u8.ToArray(), echo);

            Assert.Empty(await silent.ReceiveToEndAsync());
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(450), TestHelpers.Timeout);
            await TestHelpers.WaitUntilAsync(() => !closed.IsEmpty, "the close event");
        }

        var e = Assert.Single(closed, c => c.Reason == ConnectionCloseReason.TlsHandshakeFailed);
        Assert.Equal(0, e.BytesReceived);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 0, "both connections to close");
        Assert.Equal(1, server.GetStatistics().TlsHandshakeFailures);
    }

    [Fact]
    public async Task Plain_text_instead_of_a_ClientHello_fails_the_handshake_and_is_counted_not_echoed()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var server = new EchoServer(TlsTestHelpers.TlsOptions(), loggerFactory);
        await server.StartAsync();
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var plain = await TestHelpers.ConnectAsync(server.TlsEndPoint());

        await plain.SendAllAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());

        var answer = await plain.ReceiveToEndAsync();
        Assert.False(answer.AsSpan().IndexOf("GET /"u8) >= 0, "plain text was echoed by a TLS listener");
        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.TlsHandshakeFailed, e.Reason);
        Assert.Equal(0, e.BytesSent);
        Assert.Equal(1, server.GetStatistics(EchoTransport.Tls).TlsHandshakeFailures);
        await server.AssertPoolsReturnedAsync();

        // The client's doing: logged at Debug with its own event id, never as a server problem.
        var records = logs.Collector.GetSnapshot();
        Assert.Contains(records, r => r.Id.Id == 24 && r.Level == LogLevel.Debug);
        Assert.DoesNotContain(records, r => r.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task A_required_client_certificate_is_validated_and_a_bad_one_fails_the_handshake()
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        var trusted = TlsTestHelpers.ClientCertificate.GetCertHashString();
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o =>
        {
            o.Tls.ClientCertificateRequired = true;
            o.Tls.ClientCertificateValidation = (_, certificate, _, _) => certificate?.GetCertHashString() == trusted;
        }));
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);

        var (good, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint(), TlsTestHelpers.ClientCertificate);
        await using (good)
        {
            await good.WriteAllAsync("trusted"u8.ToArray());
            var echo = new byte[7];
            await good.ReadExactlyWithinAsync(echo);
            Assert.Equal("trusted"u8.ToArray(), echo);
        }

        await AssertRefusedAsync(TlsTestHelpers.OtherClientCertificate);
        await AssertRefusedAsync(null);

        await TestHelpers.WaitUntilAsync(() => closed.Count == 3, "three close events");
        Assert.Equal(2, closed.Count(c => c.Reason == ConnectionCloseReason.TlsHandshakeFailed));
        Assert.Equal(2, server.GetStatistics().TlsHandshakeFailures);

        async Task AssertRefusedAsync(X509Certificate2? certificate)
        {
            // With TLS 1.3 the client finishes its side first and learns of the refusal on its first read.
            var failed = false;
            try
            {
                var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint(), certificate);
                await using (stream)
                {
                    await stream.WriteAllAsync("stranger"u8.ToArray());
                    failed = (await stream.ReadToEndAsync()).Length == 0;
                }
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                failed = true;
            }

            Assert.True(failed, $"a client with {certificate?.Subject ?? "no certificate"} was served");
        }
    }

    [Fact]
    public async Task Stop_sends_close_notify_to_an_idle_tls_client_and_waits_for_it_to_close()
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions());
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);
        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            await stream.WriteAllAsync(new byte[] { 1, 2, 3 });
            await stream.ReadExactlyWithinAsync(new byte[3]);

            var stopping = server.StopAsync();
            Assert.Empty(await stream.ReadToEndAsync());

            // The server drains until the client closes too (up to ShutdownTimeout, 5 s).
            Assert.False(stopping.IsCompleted, "the stop completed before the client closed");
        }

        await server.StopAsync().WaitAsync(TestHelpers.Timeout);
        Assert.Equal(ConnectionCloseReason.ServerStopping, Assert.Single(closed).Reason);
    }

    [Fact]
    public async Task An_idle_tls_connection_is_closed_after_IdleTimeout()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o => o.IdleTimeout = TimeSpan.FromMilliseconds(700)));
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            try
            {
                Assert.Empty(await stream.ReadToEndAsync());
            }
            catch (IOException)
            {
                // Closed without close_notify: an abort.
            }
        }

        Assert.Equal(ConnectionCloseReason.IdleTimeout, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
    }

    [Fact]
    public async Task MaxConnections_counts_tls_and_tcp_connections_together()
    {
        var options = TlsTestHelpers.TlsOptions(o => o.MaxConnections = 1);
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        var rejected = new TaskCompletionSource<ConnectionRejectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(options);
        server.ConnectionRejected += (_, e) => rejected.TrySetResult(e);
        using var tcp = await TestHelpers.ConnectAsync(server.EndPoint(0));
        Assert.Equal(new byte[] { 9 }, await tcp.EchoAsync([9]));

        using var overLimit = await TestHelpers.ConnectAsync(server.TlsEndPoint());
        Assert.Empty(await overLimit.ReceiveToEndAsync());

        Assert.Equal(ConnectionRejectionReason.MaxConnectionsExceeded, (await rejected.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        Assert.Equal(1, server.GetStatistics(EchoTransport.Tls).RejectedConnections);
    }

    [Fact]
    public async Task A_certificate_selector_picks_the_certificate_by_server_name()
    {
        var asked = new ConcurrentQueue<string?>();
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o =>
        {
            o.Tls.ServerCertificate = null;
            o.Tls.ServerCertificateSelector = (_, name) =>
            {
                asked.Enqueue(name);
                return TlsTestHelpers.ServerCertificate;
            };
        }));

        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            await stream.WriteAllAsync("sni"u8.ToArray());
            var echo = new byte[3];
            await stream.ReadExactlyWithinAsync(echo);
            Assert.Equal("sni"u8.ToArray(), echo);
        }

        Assert.Contains("localhost", asked);
    }

    [Fact]
    public async Task Handshake_metrics_follow_kestrel_with_the_protocol_version_or_the_error()
    {
        using var meterFactory = new TransportMeterFactory();
        using var duration = new MetricCollector<double>(meterFactory, "EchoKit", "echokit.tls_handshake.duration");
        using var active = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.active_tls_handshakes");
        await using var server = new EchoServer(TlsTestHelpers.TlsOptions(o => o.Tls.HandshakeTimeout = TimeSpan.FromMilliseconds(300)), meterFactory: meterFactory);
        await server.StartAsync();
        var port = server.TlsEndPoint().Port;

        var (stream, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (stream)
        {
            await TestHelpers.WaitUntilAsync(() => duration.GetMeasurementSnapshot().Count == 1, "a handshake measurement");
            var ok = duration.LastMeasurement!;
            Assert.Equal("s", duration.Instrument!.Unit);
            Assert.Equal("{handshake}", active.Instrument!.Unit);
            Assert.Contains(ok.Tags["tls.protocol.version"], new object?[] { "1.2", "1.3" });
            Assert.Equal(port, ok.Tags["server.port"]);
            Assert.Equal("tcp", ok.Tags["network.transport"]);
            Assert.False(ok.Tags.ContainsKey("error.type"));
        }

        using (var silent = await TestHelpers.ConnectAsync(server.TlsEndPoint()))
        {
            Assert.Empty(await silent.ReceiveToEndAsync());
        }

        await TestHelpers.WaitUntilAsync(() => duration.GetMeasurementSnapshot().Count == 2, "the failed handshake's measurement");
        var failed = duration.LastMeasurement!;
        Assert.Equal("timeout", failed.Tags["error.type"]);
        Assert.True(failed.Value >= 0.25, $"the stalled handshake lasted {failed.Value} s");
        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));
    }
}
