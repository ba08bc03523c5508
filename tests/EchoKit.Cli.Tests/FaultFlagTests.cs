using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Cli.Tests;

/// <summary><c>echokit serve --fault RULE</c> (repeatable; a rule holds commas) and <c>--fault-seed N</c>.</summary>
public class FaultFlagTests
{
    [Fact]
    public async Task Repeated_fault_flags_each_add_a_rule_that_the_server_applies()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--fault", "latency:delay=200ms,jitter=0s", "--fault", "limit:bytes=8", "--fault-seed", "5", "--quiet");
        var endPoint = IPEndPoint.Parse(await serve.WaitForListenerAsync());
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(endPoint);

        var started = Stopwatch.StartNew();
        await client.SendAsync(new byte[] { 1, 2, 3, 4 });
        var echoed = new byte[4];
        using var cts = new CancellationTokenSource(CliRun.Timeout);
        await client.ReceiveAsync(echoed.AsMemory(), SocketFlags.None, cts.Token);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(20));

        // The limit of 8 bytes: 4 more, then FIN.
        await client.SendAsync(new byte[10]);
        var total = 0;
        var buffer = new byte[64];
        while (await client.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cts.Token) is var read and > 0)
        {
            total += read;
        }

        Assert.Equal(4, total);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await serve.StopAsync());
    }

    [Theory]
    [InlineData("Invalid value 'lag:delay=1s' for --fault: 'lag' is not a fault type; the types are latency, slice, limit, reset, refuse, blackhole, bandwidth, slow-close, stall-reads, corrupt, drop, duplicate, reorder, slow-open", "--fault", "lag:delay=1s")]
    [InlineData("Invalid value 'latency:delay=50ms,speed=2' for --fault: latency has no key 'speed'", "--fault", "latency:delay=50ms,speed=2")]
    [InlineData("Invalid value 'abc' for --fault-seed: not a whole number", "--fault-seed", "abc")]
    public async Task A_bad_fault_flag_is_a_parse_error_naming_it(string expected, params string[] args)
    {
        var (exitCode, _, error) = await CliRun.RunAsync(["serve", "--tcp", "127.0.0.1:0", .. args]);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_fits_no_endpoint_fails_before_anything_listens()
    {
        var (exitCode, output, error) = await CliRun.RunAsync("serve", "--tcp", "127.0.0.1:0", "--fault", "refuse:on=unix");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("EchoServerOptions.Faults[0] ('refuse:on=unix') applies to no endpoint", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening on", output, StringComparison.Ordinal);
    }
}
