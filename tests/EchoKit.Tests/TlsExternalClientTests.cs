namespace EchoKit.Tests;

/// <summary>A TLS client no one here wrote: `openssl s_client` from Debian's openssl package. Skipped where it is missing.</summary>
public class TlsExternalClientTests
{
    [SkippableFact]
    public async Task Openssl_s_client_gets_every_byte_back()
    {
        var openssl = ExternalTool.Find("openssl");
        Skip.If(openssl is null, "openssl is not installed (apt-get install openssl)");
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions());
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        var endPoint = server.TlsEndPoint();
        var payload = TestHelpers.RandomBytes(256 * 1024, seed: 3000);

        // -quiet implies -ign_eof: s_client keeps reading after its stdin ends, so the test reads the whole echo and
        // then ends the client.
        var echoed = await ExternalTool.ExchangeAsync(openssl!, ExternalTool.Format("s_client -quiet -connect {0}:{1}", endPoint.Address, endPoint.Port), payload, payload.Length);

        Assert.True(payload.AsSpan().SequenceEqual(echoed), "openssl s_client got different bytes back");
        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal(payload.Length, e.BytesReceived);
        Assert.Equal(payload.Length, e.BytesSent);
        Assert.Equal(0, server.GetStatistics().TlsHandshakeFailures);
    }
}
