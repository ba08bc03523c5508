using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using EchoKit;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit bench --udp</c> on loopback against an EchoKit server, a server whose rate limit drops datagrams, an echo
/// that corrupts a byte, a sink that never answers and a port with nothing listening.
/// </summary>
public class UdpBenchTests
{
    [Fact]
    public async Task Bench_udp_against_an_echokit_server_passes_and_accounts_for_every_datagram()
    {
        await using var server = await StartUdpServerAsync(rateLimit: null);

        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", "--udp", server.UdpEndPoint, "-d", "1", "-w", "200ms", "-c", "2", "-p", "4", "-s", "512", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.True(root.GetProperty("ok").GetBoolean());
        Assert.Equal("udp", root.GetProperty("transport").GetString());
        Assert.Equal(2, root.GetProperty("connectionsOpened").GetInt32());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("firstError").ValueKind);
        Assert.Equal(1, root.GetProperty("lossTimeoutSeconds").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("maxLossPercent").ValueKind);
        var messages = root.GetProperty("messages").GetInt64();
        Assert.True(messages > 0);
        Assert.Equal(messages * 512, root.GetProperty("bytes").GetInt64());
        Assert.Equal(messages, root.GetProperty("latencyMicroseconds").GetProperty("count").GetInt64());
        Assert.True(root.GetProperty("latencyMicroseconds").GetProperty("p50").GetDouble() > 0);

        // Every datagram sent was either echoed intact or declared lost.
        var sent = root.GetProperty("datagramsSent").GetInt64();
        var verified = root.GetProperty("messagesVerified").GetInt64();
        var lost = root.GetProperty("datagramsLost").GetInt64();
        Assert.True(verified >= messages);
        Assert.Equal(sent, verified + lost);
        Assert.True(root.GetProperty("lossPercent").GetDouble() >= 0);
        Assert.True(root.GetProperty("outOfWindow").GetInt64() >= 0);
        await WaitForAsync(() => server.Server.GetStatistics(EchoTransport.Udp).DatagramsEchoed >= verified);   // counted after the send completes
        Assert.Equal(verified, server.Server.GetStatistics(EchoTransport.Udp).DatagramsEchoed);
    }

    [Fact]
    public async Task Datagrams_dropped_by_the_servers_rate_limit_are_reported_lost_not_as_errors()
    {
        // 4 flows × 64 in flight = 256 datagrams at once against a bucket of 50: most of the first burst is dropped.
        using var serve = CliRun.Start("serve", "--udp", "127.0.0.1:0", "--udp-rate-limit", "50", "--quiet");
        var endPoint = await serve.WaitForListenerAsync("udp");
        string[] load = ["bench", "--udp", endPoint, "-d", "1", "-w", "0", "-c", "4", "-p", "64", "--loss-timeout", "100ms", "--json"];

        var (exitCode, output, error) = await CliRun.RunAsync(load);

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using (var json = JsonDocument.Parse(output))
        {
            var root = json.RootElement;
            Assert.True(root.GetProperty("datagramsLost").GetInt64() > 0);
            Assert.True(root.GetProperty("lossPercent").GetDouble() > 10);
            Assert.True(root.GetProperty("messages").GetInt64() > 0);
            Assert.Equal(0, root.GetProperty("errors").GetInt64());
            Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
            Assert.True(root.GetProperty("ok").GetBoolean());
        }

        (exitCode, output, error) = await CliRun.RunAsync([.. load, "--max-loss", "5"]);

        Assert.Equal(1, exitCode);
        Assert.Contains("of the datagrams were lost, more than --max-loss 5 %", error, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(output))
        {
            Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
            Assert.Equal(5, json.RootElement.GetProperty("maxLossPercent").GetDouble());
        }

        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task An_echo_that_corrupts_a_byte_is_a_mismatch_and_exit_code_1()
    {
        using var echo = new FakeUdpEcho(FakeUdpEcho.Behavior.FlipLastByte);

        var (exitCode, output, error) = await CliRun.RunAsync("bench", "--udp", echo.EndPoint, "-d", "500ms", "-w", "0", "-c", "1", "--json");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using var json = JsonDocument.Parse(output);
        Assert.True(json.RootElement.GetProperty("mismatches").GetInt64() > 0);
        Assert.Equal(0, json.RootElement.GetProperty("messagesVerified").GetInt64());
        Assert.Contains("echokit bench: FAILED:", error, StringComparison.Ordinal);
        Assert.Contains("mismatched", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sink_that_never_answers_loses_everything_and_exits_1()
    {
        using var sink = new FakeUdpEcho(FakeUdpEcho.Behavior.NeverAnswer);

        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", "--udp", sink.EndPoint, "-d", "500ms", "-w", "0", "-c", "2", "-p", "2", "--loss-timeout", "100ms");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        Assert.Contains("FAILED: nothing was echoed", error, StringComparison.Ordinal);
        Assert.Matches(@"datagrams +[\d,]+ sent, [\d,]+ lost \(100 %\)", output);
        Assert.Matches(@"errors +0\n", output.ReplaceLineEndings("\n"));
        // The sink's thread may not have read every datagram yet on a loaded machine: wait for it, do not sample once.
        await WaitForAsync(() => sink.Received > 4);
        Assert.True(sink.Received > 4, "the sink received the datagrams sent after each loss timeout");
    }

    [Fact]
    public async Task A_port_with_nothing_listening_is_an_error_naming_it()
    {
        var port = ClosedUdpPort();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", "--udp", $"127.0.0.1:{port}", "-d", "2", "-w", "0", "--json");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        Assert.Contains($"nothing listening on udp 127.0.0.1:{port}", error, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(4, json.RootElement.GetProperty("errors").GetInt64());
        Assert.Contains($"nothing listening on udp 127.0.0.1:{port}", json.RootElement.GetProperty("firstError").GetString(), StringComparison.Ordinal);
        Assert.True(json.RootElement.GetProperty("elapsedSeconds").GetDouble() < 2, "the run ends as soon as every flow has failed");
    }

    internal static async Task<UdpServer> StartUdpServerAsync(int? rateLimit)
    {
        var options = new EchoServerOptions { UdpEndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        options.Udp.PerSourceRateLimit = rateLimit;
        var server = new EchoServer(options);
        await server.StartAsync();
        return new UdpServer(server);
    }

    internal static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + CliRun.Timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }

    private static int ClosedUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;   // bound, then closed: the kernel answers port unreachable
    }

    /// <summary>An in-process EchoKit server with one UDP listener.</summary>
    internal sealed class UdpServer(EchoServer server) : IAsyncDisposable
    {
        public EchoServer Server => server;

        public IPEndPoint EndPoint => (IPEndPoint)server.Listeners.Single(l => l.Transport == EchoTransport.Udp).EndPoint;

        public string UdpEndPoint => EndPoint.ToString();

        public ValueTask DisposeAsync() => server.DisposeAsync();
    }
}
