using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EchoKit.Tests;

/// <summary>Unix domain sockets: a stale socket file is removed, a live one or a file of another kind fails the start naming the path.</summary>
public sealed class UnixSocketTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("echokit-uds-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public async Task A_stale_socket_file_nobody_listens_on_is_removed_and_the_server_starts()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the socket file's type is checked with statx, on Linux");
        var path = Path.Combine(_directory, "stale.sock");
        CreateStaleSocketFile(path);
        Assert.True(File.Exists(path));
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));

        await using var server = new EchoServer(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) } }, loggerFactory);
        await server.StartAsync();

        Assert.Equal(EchoTransport.Unix, Assert.Single(server.Listeners).Transport);
        using (var client = await ConnectAsync(path))
        {
            Assert.Equal("alive"u8.ToArray(), await client.EchoAsync("alive"u8.ToArray()));
        }

        Assert.Contains(logs.Collector.GetSnapshot(), r => r.Id.Id == 5 && r.Level == LogLevel.Information && r.Message.Contains(path, StringComparison.Ordinal));
        await server.StopAsync().WaitAsync(TestHelpers.Timeout);
        Assert.False(File.Exists(path), "the socket file should be removed after StopAsync");
    }

    [Fact]
    public async Task A_socket_file_with_a_live_listener_fails_the_start_naming_the_path_and_is_left_alone()
    {
        var path = Path.Combine(_directory, "live.sock");
        using var squatter = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        squatter.Bind(new UnixDomainSocketEndPoint(path));
        squatter.Listen();
        await using var server = new EchoServer(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) } });

        var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains(OperatingSystem.IsLinux() ? "another process is listening" : "remove it", ex.Message, StringComparison.Ordinal);
        Assert.Empty(server.Listeners);

        // The other server still has its file and its clients.
        using var client = await ConnectAsync(path);
        Assert.True(client.Connected);
    }

    [Fact]
    public async Task A_file_that_is_not_a_socket_fails_the_start_and_is_not_deleted()
    {
        var path = Path.Combine(_directory, "notes.txt");
        await File.WriteAllTextAsync(path, "keep me");
        await using var server = new EchoServer(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) } });

        var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains(OperatingSystem.IsLinux() ? "is not a socket" : "remove it", ex.Message, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(path));
    }

    [SkippableTheory]
    [InlineData("socat", "-t 10 - UNIX-CONNECT:{0}")]
    [InlineData("nc", "-N -U {0}")]
    public async Task A_unix_socket_client_no_one_here_wrote_gets_every_byte_back(string tool, string argumentFormat)
    {
        var executable = ExternalTool.Find(tool);
        Skip.If(executable is null, $"{tool} is not installed (apt-get install {(tool == "nc" ? "netcat-openbsd" : tool)})");
        var path = Path.Combine(_directory, $"{tool}.sock");
        await using var server = await TestHelpers.StartAsync(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) } });
        var payload = TestHelpers.RandomBytes(1024 * 1024, seed: 1997);

        var (exitCode, output, error) = await ExternalTool.RunAsync(executable!, ExternalTool.Format(argumentFormat, path), payload);

        Assert.True(exitCode == 0, $"{tool} exited with {exitCode}: {error}");
        Assert.Equal(payload.Length, output.Length);
        Assert.True(payload.AsSpan().SequenceEqual(output), $"{tool} got different bytes back");
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics(EchoTransport.Unix) is { ActiveConnections: 0, BytesSent: 1024 * 1024, AcceptedConnections: 1 }, "the connection to end");
        await server.AssertPoolsReturnedAsync();
    }

    /// <summary>A socket file whose socket is closed: what a process killed with SIGKILL leaves behind.</summary>
    private void CreateStaleSocketFile(string path)
    {
        // Disposing a bound socket deletes its file by the name it was bound to; moved away first, the file stays.
        var bound = Path.Combine(_directory, $"{Guid.NewGuid():N}.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(bound));
        socket.Listen();
        File.Move(bound, path);
    }

    private static async Task<Socket> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token);
        return socket;
    }
}
