using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit serve</c> and <c>echokit bench</c> run in-process against each other on loopback, and against a
/// closed port and a port in use.
/// </summary>
public class ServeAndBenchTests
{
    [Fact]
    public async Task Bench_against_serve_passes_with_zero_errors_and_parseable_json()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--status-interval", "200ms");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", endPoint, "--duration", "1", "--warmup", "200ms", "--connections", "2", "--in-flight", "4", "--size", "1k", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.True(root.GetProperty("ok").GetBoolean());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("firstError").ValueKind);
        Assert.Equal(2, root.GetProperty("connectionsOpened").GetInt32());
        Assert.Equal(1024, root.GetProperty("messageSize").GetInt32());
        Assert.Equal("tcp", root.GetProperty("transport").GetString());
        var messages = root.GetProperty("messages").GetInt64();
        Assert.True(messages > 0);
        Assert.Equal(messages * 1024, root.GetProperty("bytes").GetInt64());
        Assert.True(root.GetProperty("messagesVerified").GetInt64() >= messages);
        Assert.True(root.GetProperty("messagesPerSecond").GetDouble() > 0);
        Assert.True(root.GetProperty("mebibytesPerSecond").GetDouble() > 0);
        var latency = root.GetProperty("latencyMicroseconds");
        var p50 = latency.GetProperty("p50").GetDouble();
        Assert.True(p50 > 0);
        Assert.True(latency.GetProperty("p90").GetDouble() >= p50);
        Assert.True(latency.GetProperty("p999").GetDouble() >= latency.GetProperty("p99").GetDouble());
        Assert.Equal(messages, latency.GetProperty("count").GetInt64());
        Assert.Contains("bench: measuring", error, StringComparison.Ordinal);   // plain progress lines when redirected

        Assert.Equal(0, await serve.StopAsync());
        Assert.Matches(@"\d+ connections \| .* accepted/s \| \d+ rejected \| in [\d.]+ MiB/s \| out [\d.]+ MiB/s", serve.Output.Text);
        Assert.Contains("Stopped after", serve.Output.Text, StringComparison.Ordinal);
        Assert.Contains("2 connection(s) accepted", serve.Output.Text, StringComparison.Ordinal);
        Assert.Equal("", serve.Error.Text);
    }

    [Fact]
    public async Task Bench_prints_a_text_report_against_a_server_configured_from_a_json_file()
    {
        using var config = new TempFile("""
            { "EchoServer": { "EndPoints": [ "127.0.0.1:0" ], "MaxConnections": 8, "IdleTimeout": "00:01:00", "ReceiveBufferSize": 4096 } }
            """);
        using var serve = CliRun.Start("serve", "--config", config.Path, "--quiet");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "-d", "1", "-w", "0", "-c", "3");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        Assert.Contains("3 connection(s), 64-byte messages, 1 in flight per connection", output, StringComparison.Ordinal);
        Assert.Matches(@"latency +p50 [\d.,]+ us \| p90 [\d.,]+ us \| p99 [\d.,]+ us \| p99\.9 [\d.,]+ us", output);
        Assert.Matches(@"errors +0\n", output.ReplaceLineEndings("\n"));
        Assert.EndsWith("PASS" + Environment.NewLine, output, StringComparison.Ordinal);

        Assert.Equal(0, await serve.StopAsync());
        Assert.DoesNotContain(" accepted/s", serve.Output.Text, StringComparison.Ordinal);   // --quiet
    }

    [Fact]
    public async Task Bench_against_a_closed_port_exits_1()
    {
        var port = ClosedPort();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", $"127.0.0.1:{port}", "--duration", "1", "--json");

        Assert.Equal(1, exitCode);
        Assert.Contains($"could not open any connection to 127.0.0.1:{port}", error, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(output);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(0, json.RootElement.GetProperty("connectionsOpened").GetInt32());
        Assert.Equal(4, json.RootElement.GetProperty("errors").GetInt64());
        Assert.Contains("connect failed", json.RootElement.GetProperty("firstError").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_on_a_port_in_use_exits_1_naming_the_endpoint()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var endPoint = (IPEndPoint)taken.LocalEndPoint!;

        var (exitCode, output, error) = await CliRun.RunAsync("serve", "--tcp", endPoint.ToString());

        Assert.Equal(1, exitCode);
        Assert.Contains("echokit serve: failed to start", error, StringComparison.Ordinal);
        Assert.Contains(endPoint.ToString(), error, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening on", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_listens_on_udp_and_tls_endpoints_from_flags()
    {
        using var serve = CliRun.Start("serve", "--udp", "127.0.0.1:0", "--tls", "127.0.0.1:0", "--tls-self-signed", "--status-interval", "100ms");
        var udp = IPEndPoint.Parse(await serve.WaitForListenerAsync("udp"));
        var tls = IPEndPoint.Parse(await serve.WaitForListenerAsync("tls"));
        Assert.DoesNotContain("Listening on tcp", serve.Output.Text, StringComparison.Ordinal);   // no default endpoint when others are given

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var datagram = Encoding.ASCII.GetBytes("hello over udp");
            await client.SendToAsync(datagram, udp);
            var buffer = new byte[100];
            using var cts = new CancellationTokenSource(CliRun.Timeout);
            var received = await client.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            Assert.Equal(datagram, buffer[..received.ReceivedBytes]);
        }

        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(tls);
            using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, _) => certificate?.Subject == "CN=localhost");   // the self-signed one
            await ssl.AuthenticateAsClientAsync("localhost");
            var message = Encoding.ASCII.GetBytes("hello over tls");
            await ssl.WriteAsync(message);
            var buffer = new byte[message.Length];
            await ssl.ReadExactlyAsync(buffer).AsTask().WaitAsync(CliRun.Timeout);
            Assert.Equal(message, buffer);
        }

        await WaitForAsync(() => serve.Output.Text.Contains("udp ", StringComparison.Ordinal) && serve.Output.Text.Contains("TLS handshake failures", StringComparison.Ordinal));
        Assert.Equal(0, await serve.StopAsync());
        Assert.Contains("1 datagram(s) echoed", serve.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_on_a_terminal_redraws_its_status_line_in_place()
    {
        using var serve = CliRun.StartOnTerminal("serve", "--tcp", "127.0.0.1:0", "--status-interval", "50ms");
        await serve.WaitForListenerAsync();
        Assert.Contains("Press Ctrl+C to stop.", serve.Output.Text, StringComparison.Ordinal);
        await WaitForAsync(() => serve.Output.Text.Split('\r').Length > 3);

        Assert.Equal(0, await serve.StopAsync());
        var text = serve.Output.Text;
        var statusStart = text.IndexOf('\r', StringComparison.Ordinal);
        var statusEnd = text.IndexOf("Stopping", StringComparison.Ordinal);
        Assert.True(statusStart > 0 && statusEnd > statusStart);
        var redrawn = text[statusStart..statusEnd].TrimEnd();
        Assert.DoesNotContain('\n', redrawn);   // every update went over the same line
        Assert.True(redrawn.Split('\r', StringSplitOptions.RemoveEmptyEntries).Length >= 3);
    }

    [Fact]
    public async Task Serve_without_endpoints_listens_on_127_0_0_1_port_7007()
    {
        using var serve = CliRun.Start("serve", "--quiet");
        await WaitForAsync(() => serve.Output.Text.Contains("Listening on", StringComparison.Ordinal) || serve.Completion.IsCompleted);
        if (serve.Completion.IsCompleted && serve.Error.Text.Contains("in use", StringComparison.Ordinal))
        {
            return;   // something else holds 7007 on this machine right now; the default cannot be observed
        }

        Assert.Equal("127.0.0.1:7007", await serve.WaitForListenerAsync());
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Serve_accepts_off_for_every_optional_limit_and_applies_it()
    {
        // "off" once crashed serve with an InvalidCastException from System.CommandLine (a null parsed value).
        using var serve = CliRun.Start(
            "serve", "--udp", "127.0.0.1:0", "--idle-timeout", "off", "--send-timeout", "none",
            "--max-connection-lifetime", "never", "--max-bytes-per-connection", "off", "--max-connections-per-address", "off",
            "--max-connection-rate", "off", "--udp-rate-limit", "off");
        var endPoint = await serve.WaitForListenerAsync("udp");

        // With the default limit of 1,000 datagrams/s per source this load loses datagrams; with off it loses none.
        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", "--udp", endPoint, "--duration", "1", "--warmup", "0", "--connections", "4", "--in-flight", "8", "--max-loss", "0", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}\nserve stderr:\n{serve.Error.Text}");
        using var json = JsonDocument.Parse(output);
        Assert.Equal(0, json.RootElement.GetProperty("datagramsLost").GetInt64());
        Assert.True(json.RootElement.GetProperty("messages").GetInt64() > 1000);
        Assert.Equal(0, await serve.StopAsync());
        Assert.Equal("", serve.Error.Text);
    }

    private static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;   // bound, never listening, then closed
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + CliRun.Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for a condition");
            await Task.Delay(20);
        }
    }
}
