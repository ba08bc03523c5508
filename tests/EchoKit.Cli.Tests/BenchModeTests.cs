using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit bench --reconnect</c>, <c>--connect-per-echo</c> and <c>--rate</c> against an in-process
/// <c>echokit serve</c> whose limits end connections on purpose (issue 16: bench through a rolling restart, open-model
/// load). Assertions are about counts and structure, never about speed.
/// </summary>
public class BenchModeTests
{
    [Fact]
    public async Task Reconnect_after_a_close_between_echoes_costs_no_echo()
    {
        // 2 connections at 2 msgs/s each: the server closes each connection gracefully 170 ms after it opened, so
        // closes fall between echoes (a close within a round trip of a send could cost one; 170 is no divisor of 500).
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--max-connection-lifetime", "170ms");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--reconnect", "--rate", "4", "-c", "2", "-s", "64", "-d", "2s", "-w", "0", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal("reconnect", root.GetProperty("mode").GetString());
        Assert.Equal(0, root.GetProperty("failedEchoes").GetInt64());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.True(root.GetProperty("reconnections").GetInt64() >= 2, output);
        Assert.True(root.GetProperty("messages").GetInt64() >= 4, output);
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Reconnect_counts_each_message_a_closing_server_did_not_echo_and_fails()
    {
        // 8 messages of 64 bytes in flight; the server closes after 640 bytes, so some are always lost.
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--max-bytes-per-connection", "640");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--reconnect", "-c", "2", "-p", "8", "-s", "64", "-d", "500ms", "-w", "0", "--json");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var root = JsonDocument.Parse(output).RootElement;
        Assert.True(root.GetProperty("failedEchoes").GetInt64() > 0, output);
        Assert.True(root.GetProperty("reconnections").GetInt64() > 0, output);
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.Contains("failed echo(es)", error, StringComparison.Ordinal);
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Without_reconnect_a_server_close_is_an_error()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--max-bytes-per-connection", "640");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "-c", "1", "-p", "8", "-d", "300ms", "-w", "0", "--json");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        Assert.Contains("not fully echoed", error, StringComparison.Ordinal);
        Assert.False(JsonDocument.Parse(output).RootElement.TryGetProperty("reconnections", out _));
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Connect_per_echo_opens_a_connection_for_each_echo()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--connect-per-echo", "-c", "2", "-d", "500ms", "-w", "0", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal("connect-per-echo", root.GetProperty("mode").GetString());
        Assert.Equal(0, root.GetProperty("failedEchoes").GetInt64());
        var messages = root.GetProperty("messages").GetInt64();
        Assert.True(messages > 0, output);
        Assert.Equal(messages * 64, root.GetProperty("bytes").GetInt64());
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task A_constant_rate_sends_on_schedule_and_reports_the_full_spectrum()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--rate", "400", "-c", "2", "-p", "4", "-d", "1s", "-w", "0", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(400, root.GetProperty("rateMessagesPerSecond").GetInt32());
        Assert.True(root.GetProperty("latencyMicroseconds").GetProperty("correctedForCoordinatedOmission").GetBoolean());

        // The schedule, not the echoes, sets the pace: never above 400/s over the window (a busy machine may give fewer;
        // as fast as the echoes come, this load does tens of thousands per second).
        var allowed = 400 * root.GetProperty("elapsedSeconds").GetDouble() * 1.1 + 8;
        var messages = root.GetProperty("messages").GetInt64();
        Assert.True(messages > 0 && messages <= allowed, $"{messages} messages, at most {allowed:0} allowed\n{output}\n{error}");

        var spectrum = root.GetProperty("latencySpectrumMicroseconds").EnumerateArray()
            .Select(p => (p.GetProperty("percentile").GetDouble(), p.GetProperty("microseconds").GetDouble())).ToList();
        Assert.Equal([0, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100], spectrum.Select(p => p.Item1));
        Assert.Equal(spectrum.Select(p => p.Item2).Order(), spectrum.Select(p => p.Item2));
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task At_a_constant_rate_a_slow_server_shows_in_the_latency_coordinated_omission_corrected()
    {
        // Every echo takes 200 ms, one in flight: 5 msgs/s get through while 10/s are due, so each message waits longer
        // than the last. A closed-model client would report about 200 ms.
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--fault", "latency:delay=200ms");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--rate", "10", "-c", "1", "-p", "1", "-d", "2s", "-w", "0", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var latency = JsonDocument.Parse(output).RootElement.GetProperty("latencyMicroseconds");
        Assert.True(latency.GetProperty("max").GetDouble() > 600_000, output);
        Assert.True(latency.GetProperty("p50").GetDouble() > 250_000, output);
        Assert.Equal(0, await serve.StopAsync());
    }

    [Theory]
    [InlineData("--in-flight does not apply with --connect-per-echo", "--connect-per-echo", "--in-flight", "4")]
    [InlineData("--reconnect does not apply with --connect-per-echo", "--connect-per-echo", "--reconnect")]
    [InlineData("--rate applies only to TCP", "--udp", "--rate", "10")]
    [InlineData("--reconnect applies only to TCP", "--udp", "--reconnect")]
    public async Task Modes_that_do_not_combine_are_usage_errors(string expected, params string[] flags)
    {
        var (exitCode, _, error) = await CliRun.RunAsync(["bench", "127.0.0.1:9", .. flags]);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
