using System.Text.Json;
using EchoKit.Shared;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit bench --greeting</c> and <c>--proxy-protocol</c> against an in-process <c>echokit serve --greeting</c> /
/// <c>--proxy-protocol</c>, and the greeting's text grammar (escapes, the instance name's default).
/// </summary>
public class BenchGreetingTests
{
    [Fact]
    public async Task Bench_reads_each_connections_greeting_and_counts_connections_per_greeting()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--greeting", @"hello from {instance}\r\n", "--instance-name", "echo-a");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", endPoint, "--greeting", "-d", "500ms", "-w", "0", "-c", "6", "-p", "2", "-s", "100", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        var greetings = root.GetProperty("greetings").EnumerateObject().Select(p => (p.Name, p.Value.GetInt32())).ToList();
        Assert.Equal([("hello from echo-a", 6)], greetings);

        // The text report: one row per greeting.
        var (textExit, text, textError) = await CliRun.RunAsync("bench", endPoint, "--greeting", "-d", "300ms", "-w", "0", "-c", "3");
        Assert.True(textExit == 0, $"bench exited with {textExit}\nstdout:\n{text}\nstderr:\n{textError}");
        Assert.Matches(@"greetings +3 connection\(s\)  hello from echo-a\n", text.ReplaceLineEndings("\n"));
        Assert.Contains("greeting read first", text, StringComparison.Ordinal);
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Bench_without_greeting_against_a_greeting_server_sees_the_greeting_as_a_mismatch_and_fails()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--greeting", @"hi\n");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "-d", "300ms", "-w", "0", "-c", "2", "--json");

        Assert.True(exitCode == 1, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        Assert.False(JsonDocument.Parse(output).RootElement.TryGetProperty("greetings", out _));
        Assert.Equal(0, await serve.StopAsync());
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task Bench_with_a_PROXY_header_loads_a_proxy_protocol_server_and_the_greeting_names_each_client(string version)
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--proxy-protocol", "--greeting", @"{remote}\n");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync(
            "bench", endPoint, "--proxy-protocol", version, "--greeting", "-d", "500ms", "-w", "0", "-c", "4", "-p", "4", "--json");

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal((0L, 0L), (root.GetProperty("errors").GetInt64(), root.GetProperty("mismatches").GetInt64()));
        Assert.True(root.GetProperty("messages").GetInt64() > 0);

        // The header's source is each client's own address, so each greeting is distinct: 127.0.0.1:PORT.
        var greetings = root.GetProperty("greetings").EnumerateObject().ToList();
        Assert.Equal(4, greetings.Count);
        Assert.All(greetings, g => Assert.Matches(@"^127\.0\.0\.1:\d+$", g.Name));
        Assert.All(greetings, g => Assert.Equal(1, g.Value.GetInt32()));
        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Bench_v2_against_serve_proxy_protocol_passes_and_without_the_header_every_connection_fails()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet", "--proxy-protocol");
        var endPoint = await serve.WaitForListenerAsync();

        var (exitCode, output, error) = await CliRun.RunAsync("bench", endPoint, "--proxy-protocol", "v2", "-d", "500ms", "-w", "0", "-c", "5", "--json");
        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        using (var json = JsonDocument.Parse(output))
        {
            Assert.Equal(0, json.RootElement.GetProperty("errors").GetInt64());
            Assert.True(json.RootElement.GetProperty("messagesVerified").GetInt64() > 0);
        }

        var (plainExit, plain, plainError) = await CliRun.RunAsync("bench", endPoint, "-d", "500ms", "-w", "0", "-c", "5", "--json");
        Assert.True(plainExit == 1, $"bench exited with {plainExit}\nstdout:\n{plain}\nstderr:\n{plainError}");
        using (var json = JsonDocument.Parse(plain))
        {
            Assert.Equal(5, json.RootElement.GetProperty("errors").GetInt64());
            Assert.Equal(0, json.RootElement.GetProperty("messagesVerified").GetInt64());
            Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        }

        Assert.Equal(0, await serve.StopAsync());
    }

    [Fact]
    public async Task Greeting_and_proxy_flags_are_usage_errors_with_udp_and_a_bad_version_is_a_parse_error()
    {
        var (exitCode, _, error) = await CliRun.RunAsync("bench", "127.0.0.1:9", "--udp", "--greeting");
        Assert.Equal(2, exitCode);
        Assert.Contains("--greeting applies only to TCP", error, StringComparison.Ordinal);

        (exitCode, _, error) = await CliRun.RunAsync("bench", "127.0.0.1:9", "--proxy-protocol", "v3");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--proxy-protocol", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_greeting_grammar_reads_escapes_and_its_default_and_the_instance_names_round_trip()
    {
        Assert.True(TextGrammar.TryParseGreeting(@"hello from {instance}\n\tx\\y\r", out var text, out _));
        Assert.Equal("hello from {instance}\n\tx\\y\r", text);
        Assert.Equal(@"hello from {instance}\n\tx\\y\r", TextGrammar.Escape(text!));
        Assert.True(TextGrammar.TryParseGreeting("off", out var off, out _));
        Assert.Null(off);
        Assert.False(TextGrammar.TryParseGreeting(@"a\", out _, out var lone));
        Assert.Equal("it ends in a lone backslash", lone.Detail);
        Assert.False(TextGrammar.TryParseGreeting(@"a\x", out _, out var unknown));
        Assert.Equal(@"\x is no escape", unknown.Detail);

        Assert.True(EchoServerOptionCatalog.TryFind(nameof(EchoServerOptions.InstanceName), out var instance));
        Assert.Equal("{machine}", instance.DefaultText);
        Assert.True(instance.TryRead("{machine}", OptionSource.CommandLine, out var machine, out _));
        Assert.Equal(Environment.MachineName, machine);
        Assert.True(instance.TryRead("echo-b.2_x", OptionSource.CommandLine, out var named, out _));
        Assert.Equal("echo-b.2_x", named);
        Assert.False(instance.TryRead("has space", OptionSource.CommandLine, out _, out _));
        Assert.True(EchoServerOptionCatalog.TryFind(nameof(EchoServerOptions.Greeting), out var greeting));
        Assert.Equal("off", greeting.DefaultText);
    }
}
