using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>
/// The PROXY header on a TLS listener comes before the handshake, on the raw connection, as HAProxy sends it in front
/// of a TLS server it does not terminate. The TLS bytes the client sends right behind the header may share its packet.
/// </summary>
public sealed class ProxyProtocolTlsTests
{
    private static readonly byte[] Header = ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 127.0.0.10 40001 7\r\n");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_header_then_a_handshake_is_served_with_the_clients_address(bool headerSharesTheFirstTlsWrite)
    {
        var accepted = new ConcurrentQueue<ConnectionAcceptedEventArgs>();
        await using var server = new EchoServer(TlsTestHelpers.TlsOptions(o => o.ProxyProtocol.Enabled = true));
        server.ConnectionAccepted += (_, e) => accepted.Enqueue(e);
        await server.StartAsync();
        using var socket = await TestHelpers.ConnectAsync(server.TlsEndPoint());
        Stream transport = new NetworkStream(socket, ownsSocket: false);
        if (headerSharesTheFirstTlsWrite)
        {
            transport = new HeaderOnFirstWrite(transport, Header);
        }
        else
        {
            await socket.SendAllAsync(Header);
        }

        await using var tls = new SslStream(transport, leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TlsTestHelpers.ServerCertificate.GetCertHashString(),
        }).WaitAsync(TestHelpers.Timeout);
        var payload = TestHelpers.RandomBytes(5000, seed: 31);
        await tls.WriteAllAsync(payload);
        var echoed = new byte[payload.Length];
        await tls.ReadExactlyWithinAsync(echoed);

        Assert.Equal(payload, echoed);
        await TestHelpers.WaitUntilAsync(() => !accepted.IsEmpty, "the accepted event");
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.9"), 40001), Assert.Single(accepted).RemoteEndPoint);
    }

    [Fact]
    public async Task A_handshake_without_a_header_is_rejected_before_any_TLS()
    {
        var rejected = new ConcurrentQueue<ConnectionRejectedEventArgs>();
        await using var server = new EchoServer(TlsTestHelpers.TlsOptions(o => o.ProxyProtocol.Enabled = true));
        server.ConnectionRejected += (_, e) => rejected.Enqueue(e);
        await server.StartAsync();

        await Assert.ThrowsAnyAsync<Exception>(() => TlsTestHelpers.ConnectAsync(server.TlsEndPoint()));

        await TestHelpers.WaitUntilAsync(() => !rejected.IsEmpty, "the rejected event");
        Assert.Equal(ConnectionRejectionReason.ProxyHeaderInvalid, Assert.Single(rejected).Reason);
        Assert.Equal(0, server.GetStatistics(EchoTransport.Tls).TlsHandshakeFailures);
        await server.AssertPoolsReturnedAsync();
    }

    /// <summary>Puts the header in front of the first write (the ClientHello), so both leave in one send.</summary>
    private sealed class HeaderOnFirstWrite(Stream inner, byte[] header) : PassThroughStream(inner)
    {
        private byte[]? _header = header;

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _header, null) is { } first)
            {
                return Inner.WriteAsync(ProxyHeaderBuilder.Concat(first, buffer.ToArray()), cancellationToken);
            }

            return Inner.WriteAsync(buffer, cancellationToken);
        }
    }
}
