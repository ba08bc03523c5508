namespace EchoKit.Cli.Tests;

/// <summary>Help, parse errors (exit code 2) and input errors found before anything starts (also 2).</summary>
public class CommandLineTests
{
    [Fact]
    public async Task Root_help_lists_both_commands_and_exits_0()
    {
        var (exitCode, output, error) = await CliRun.RunAsync("--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("echokit [command] [options]", output, StringComparison.Ordinal);
        Assert.Contains("serve", output, StringComparison.Ordinal);
        Assert.Contains("bench <host:port>", output, StringComparison.Ordinal);
        Assert.Contains("Examples:", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("serve", "--tcp <endpoint>", "--udp <endpoint>", "--tls-cert <file>", "--max-connections <n>", "--idle-timeout <time|off>", "--config <file.json>")]
    [InlineData("bench", "<host:port>", "--connections <n>", "--size <size>", "--in-flight <n>", "--duration <time>", "--warmup <time>", "--json", "--udp", "--loss-timeout <time>", "--max-loss <percent>", "--progress-interval <time>")]
    public async Task Each_command_has_help_that_exits_0(string command, params string[] expected)
    {
        foreach (var helpFlag in new[] { "--help", "-h", "-?" })
        {
            var (exitCode, output, _) = await CliRun.RunAsync(command, helpFlag);

            Assert.Equal(0, exitCode);
            Assert.Contains($"echokit {command}", output, StringComparison.Ordinal);
            foreach (var text in expected)
            {
                Assert.Contains(text, output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Version_prints_the_version_and_exits_0()
    {
        var (exitCode, output, _) = await CliRun.RunAsync("--version");

        Assert.Equal(0, exitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", output);
    }

    [Theory]
    [InlineData("Required command was not provided")]
    [InlineData("Unrecognized command or argument 'frobnicate'", "frobnicate")]
    [InlineData("Unrecognized command or argument '--bogus'", "serve", "--bogus")]
    [InlineData("Invalid value 'abc' for --tcp", "serve", "--tcp", "abc")]
    [InlineData("Invalid value '70000' for --tcp", "serve", "--tcp", "70000")]
    [InlineData("Invalid value 'example.com:7' for --udp", "serve", "--udp", "example.com:7")]
    [InlineData("Invalid value '0' for --max-connections", "serve", "--max-connections", "0")]
    [InlineData("Invalid value 'soon' for --idle-timeout", "serve", "--idle-timeout", "soon")]
    [InlineData("Invalid value '1.5' for --receive-buffer-size: a size must be a whole number of bytes", "serve", "--receive-buffer-size", "1.5")]
    [InlineData("Invalid value '0' for --idle-timeout: EchoServerOptions.IdleTimeout must be greater than zero", "serve", "--idle-timeout", "0")]
    [InlineData("Invalid value '10' for --receive-buffer-size: EchoServerOptions.ReceiveBufferSize must be between 64 and 16777216 bytes (was 10).", "serve", "--receive-buffer-size", "10")]
    [InlineData("Invalid value '0' for --udp-datagrams-in-flight: EchoServerOptions.Udp.DatagramsInFlight must be between 1 and 256 (was 0).", "serve", "--udp-datagrams-in-flight", "0")]
    [InlineData("Invalid value 'unix:/tmp/echo.sock' for --udp: --udp takes IP endpoints only; Unix domain sockets go in --unix", "serve", "--udp", "unix:/tmp/echo.sock")]
    [InlineData("Invalid value 'Tls14' for --tls-protocols: not TLS protocol names", "serve", "--tls-protocols", "Tls14")]
    [InlineData("Invalid value 'x' for --udp-blocked-ports: not a whole number.", "serve", "--udp-blocked-ports", "7,x")]
    [InlineData("Invalid value 'soon' for --tls-handshake-timeout: not a time span; write 30s, 5m, 1.5s, 250ms or 00:05:00", "serve", "--tls-handshake-timeout", "soon")]
    [InlineData("Required argument missing for command: 'bench'", "bench")]
    [InlineData("Invalid target '127.0.0.1'", "bench", "127.0.0.1")]
    [InlineData("Invalid target '127.0.0.1:0'", "bench", "127.0.0.1:0")]
    [InlineData("Invalid value '0' for --connections", "bench", "127.0.0.1:7", "--connections", "0")]
    [InlineData("Invalid value 'x' for --duration", "bench", "127.0.0.1:7", "--duration", "x")]
    [InlineData("Invalid value 'big' for --size", "bench", "127.0.0.1:7", "-s", "big")]
    [InlineData("Invalid value '150' for --max-loss", "bench", "127.0.0.1:7", "--udp", "--max-loss", "150")]
    [InlineData("Invalid value 'lots' for --loss-timeout", "bench", "127.0.0.1:7", "--udp", "--loss-timeout", "lots")]
    public async Task Bad_flags_give_a_clear_error_and_exit_code_2(string expectedError, params string[] args)
    {
        var (exitCode, output, error) = await CliRun.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Contains(expectedError, error, StringComparison.Ordinal);
        Assert.StartsWith("echokit: ", error, StringComparison.Ordinal);
        Assert.Contains("--help' for usage.", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public void Unix_takes_a_path_as_it_is_written_and_tcp_takes_unix_paths_and_lists()
    {
        var serve = Assert.Single(EchoKitCommandLine.Build(new CliConsole(TextWriter.Null, TextWriter.Null, false, false, 0, CancellationToken.None, CancellationToken.None)).Subcommands, c => c.Name == "serve");

        var parsed = serve.Parse(["--unix", "/tmp/a,b.sock", "--tcp", "unix:/tmp/c.sock", "--tcp", "127.0.0.1:0,[::1]:0"]);

        Assert.Empty(parsed.Errors);
        Assert.Equal<object?>([new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/a,b.sock")], parsed.GetValue<List<object?>>("--unix"));
        Assert.Equal<object?>(
            [new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/c.sock"), System.Net.IPEndPoint.Parse("127.0.0.1:0"), System.Net.IPEndPoint.Parse("[::1]:0")],
            parsed.GetValue<List<object?>>("--tcp"));
    }

    [Fact]
    public async Task Tls_without_a_certificate_is_a_usage_error()
    {
        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--tls", "127.0.0.1:0");

        Assert.Equal(2, exitCode);
        Assert.Contains("--tls needs a certificate", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--tls-self-signed and --tls-cert cannot be combined", "serve", "--tls", "127.0.0.1:0", "--tls-self-signed", "--tls-cert", "x.pfx")]
    [InlineData("--tls-key needs --tls-cert", "serve", "--tls-key", "x.key")]
    [InlineData("--config-section needs --config", "serve", "--config-section", "EchoServer")]
    [InlineData("invalid --size: MessageSize must be between 8 and 65,507 bytes for UDP over IPv4 (was 65,508)", "bench", "--udp", "127.0.0.1:7", "--size", "65508")]
    [InlineData("invalid --size: MessageSize must be between 8 and 65,527 bytes for UDP over IPv6", "bench", "--udp", "[::1]:7", "--size", "64k")]
    [InlineData("invalid --size: MessageSize must be between 8", "bench", "--udp", "127.0.0.1:7", "--size", "7")]
    [InlineData("invalid --in-flight", "bench", "--udp", "127.0.0.1:7", "--in-flight", "5000")]
    [InlineData("--max-loss applies only with --udp", "bench", "127.0.0.1:7", "--max-loss", "1")]
    [InlineData("--loss-timeout applies only with --udp", "bench", "127.0.0.1:7", "--loss-timeout", "1")]
    [InlineData("--loss-timeout must be positive", "bench", "--udp", "127.0.0.1:7", "--loss-timeout", "0")]
    [InlineData("--connect-timeout applies only to TCP", "bench", "--udp", "127.0.0.1:7", "--connect-timeout", "1")]
    public async Task Flags_that_do_not_go_together_are_a_usage_error(string expectedError, params string[] args)
    {
        var (exitCode, _, error) = await CliRun.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Contains(expectedError, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_that_cannot_be_loaded_is_a_usage_error()
    {
        using var file = new TempFile("not a certificate", ".pfx");

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--tls", "127.0.0.1:0", "--tls-cert", file.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains("cannot load the TLS certificate", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_config_file_is_a_usage_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"echokit-missing-{Guid.NewGuid():N}.json");

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--config", path);

        Assert.Equal(2, exitCode);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_file_that_is_not_json_is_a_usage_error()
    {
        using var file = new TempFile("{ \"EchoServer\": { ");

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--config", file.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains("cannot read the configuration file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_config_value_is_a_usage_error_naming_its_key()
    {
        using var file = new TempFile("""{ "EchoServer": { "EndPoints": [ "127.0.0.1:0" ], "MaxConnections": "lots", "IdleTimeout": "soon" } }""");

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--config", file.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains("invalid options", error, StringComparison.Ordinal);
        Assert.Contains("EchoServer:MaxConnections: 'lots' is not a whole number", error, StringComparison.Ordinal);
        Assert.Contains("EchoServer:IdleTimeout", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_that_are_invalid_together_are_a_usage_error_naming_the_option()
    {
        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--tcp", "127.0.0.1:7007", "--tcp", "127.0.0.1:7007");

        Assert.Equal(2, exitCode);
        Assert.Contains("EchoServerOptions.EndPoints must not contain 127.0.0.1:7007 twice", error, StringComparison.Ordinal);
    }
}

/// <summary>A temporary file deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string contents, string extension = ".json")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"echokit-cli-test-{Guid.NewGuid():N}{extension}");
        File.WriteAllText(Path, contents);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
