namespace EchoKit.Tests;

/// <summary>UDP clients no one here wrote: Debian's socat and nc. `.ci/run` installs them; elsewhere the tests skip.</summary>
public class UdpExternalClientTests
{
    [SkippableTheory]
    [InlineData("socat", "- UDP:{0}:{1}", 1)]
    [InlineData("socat", "- UDP:{0}:{1}", 1400)]
    [InlineData("socat", "- UDP:{0}:{1}", 4096)]
    [InlineData("nc", "-u {0} {1}", 1000)]
    public async Task A_udp_client_gets_its_datagram_back_byte_for_byte(string tool, string argumentFormat, int size)
    {
        var executable = ExternalTool.Find(tool);
        Skip.If(executable is null, $"{tool} is not installed (apt-get install {(tool == "nc" ? "netcat-openbsd" : tool)})");
        await using var server = await TestHelpers.StartAsync(UdpTestHelpers.UdpOptions());
        var endPoint = server.UdpEndPoint();

        // One write of at most 4096 bytes (PIPE_BUF) reaches the tool in one read, so it sends one datagram (the
        // echoes of several could come back in another order, as UDP allows). Neither tool ends on its own after
        // the reply, so the test reads the echo and then ends it.
        var payload = TestHelpers.RandomBytes(size, seed: size);
        var output = await ExternalTool.ExchangeAsync(executable!, ExternalTool.Format(argumentFormat, endPoint.Address, endPoint.Port), payload, size);

        Assert.True(payload.AsSpan().SequenceEqual(output), $"{tool} got different bytes back");
        var stats = server.GetStatistics(EchoTransport.Udp);
        Assert.Equal((1, 1, size, size), (stats.DatagramsReceived, stats.DatagramsEchoed, stats.BytesReceived, stats.BytesSent));
    }
}
