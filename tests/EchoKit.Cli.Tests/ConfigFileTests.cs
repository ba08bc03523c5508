namespace EchoKit.Cli.Tests;

/// <summary>A --config file's mistakes are usage errors that say where they are (issue 16).</summary>
public class ConfigFileTests
{
    [Fact]
    public async Task Malformed_json_is_a_usage_error_naming_the_line_and_column()
    {
        using var file = new TempFile("{ \"EchoServer\": {\n  \"EndPoints\": [ \"127.0.0.1:0\" ],\n  \"MaxConnections\": 5,,\n} }");

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--config", file.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains("malformed JSON at line 3, column 23:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "EchoServer": { "EndPoints": [ "127.0.0.1:0" ], "MaxConection": 5 } }""", "EchoServer:MaxConection: unknown key; did you mean 'EchoServer:MaxConnections'?")]
    [InlineData("""{ "EndPoint": [ "127.0.0.1:0" ] }""", "EndPoint: unknown key; did you mean 'EndPoints'?")]
    public async Task A_misspelled_key_is_a_usage_error_naming_the_nearest_key(string json, string expected)
    {
        using var file = new TempFile(json);

        var (exitCode, _, error) = await CliRun.RunAsync("serve", "--config", file.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
