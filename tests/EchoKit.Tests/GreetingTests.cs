using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EchoKit.Tests;

/// <summary>
/// <see cref="EchoServerOptions.Greeting"/> over real sockets: written once at accept, before any echo (after the PROXY
/// header, after the TLS handshake), with its placeholders expanded; not echo data, so neither the byte limit nor the
/// faults shape it, and it is not in the connection's bytes sent; bounded by the send timeout.
/// </summary>
public sealed class GreetingTests : IDisposable
{
    private const string Template = "hello from {instance}, you are {remote}, this is {local}\n";

    private readonly string _directory = Directory.CreateTempSubdirectory("echokit-greet-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_TCP_connection_gets_its_greeting_then_a_byte_exact_echo_and_the_greeting_is_not_in_bytes_sent()
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => (o.Greeting, o.InstanceName) = (Template, "alpha")));
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());

        var expected = $"hello from alpha, you are {client.LocalEndPoint}, this is {client.RemoteEndPoint}\n";
        Assert.Equal(expected, await ReadGreetingAsync(client, expected.Length));

        var payload = TestHelpers.RandomBytes(50_000, seed: 5);
        Assert.Equal(payload, await client.EchoAsync(payload));
        client.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReceiveToEndAsync());

        var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
        Assert.Equal((50_000L, 50_000L), (e.BytesReceived, e.BytesSent));
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Data_sent_before_the_greeting_is_read_is_echoed_after_it(bool waitForData)
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            (o.Greeting, o.InstanceName) = ("hi {instance}\r\n", "b");
            o.WaitForDataBeforeAllocatingBuffer = waitForData;
        }));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(5000, seed: 6);
        await client.SendAllAsync(payload);
        client.Shutdown(SocketShutdown.Send);

        var all = await client.ReceiveToEndAsync();

        byte[] expected = [.. "hi b\r\n"u8, .. payload];
        Assert.Equal(expected, all);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_Unix_socket_connection_gets_the_greeting_with_its_socket_path()
    {
        var path = Path.Combine(_directory, "g.sock");
        await using var server = await TestHelpers.StartAsync(new EchoServerOptions { EndPoints = { new UnixDomainSocketEndPoint(path) }, Greeting = "{instance} at {local}\n", InstanceName = "unix-1" });
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path)).WaitAsync(TestHelpers.Timeout);

        var expected = $"unix-1 at unix:{path}\n";
        Assert.Equal(expected, await ReadGreetingAsync(client, expected.Length));
        var payload = TestHelpers.RandomBytes(3000, seed: 7);
        Assert.Equal(payload, await client.EchoAsync(payload));
        client.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReceiveToEndAsync());
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_TLS_connection_gets_the_greeting_after_the_handshake_then_its_echo()
    {
        await using var server = await TestHelpers.StartAsync(TlsTestHelpers.TlsOptions(o => (o.Greeting, o.InstanceName) = (Template, "tls-a")));
        var (stream, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using var _ = stream;

        var expected = $"hello from tls-a, you are {socket.LocalEndPoint}, this is {socket.RemoteEndPoint}\n";
        var greeting = new byte[Encoding.UTF8.GetByteCount(expected)];
        await stream.ReadExactlyWithinAsync(greeting);
        Assert.Equal(expected, Encoding.UTF8.GetString(greeting));

        var payload = TestHelpers.RandomBytes(40_000, seed: 8);
        await stream.WriteAllAsync(payload);
        var echoed = new byte[payload.Length];
        await stream.ReadExactlyWithinAsync(echoed);
        Assert.Equal(payload, echoed);
        await stream.ShutdownAsync();
        Assert.Empty(await stream.ReadToEndAsync());
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Behind_a_PROXY_header_the_greeting_names_the_headers_client_and_follows_the_header(bool tls)
    {
        var options = tls ? TlsTestHelpers.TlsOptions() : TestHelpers.LoopbackOptions();
        options.ProxyProtocol.Enabled = true;
        (options.Greeting, options.InstanceName) = ("{remote} -> {local} via {instance}\n", "p");
        await using var server = await TestHelpers.StartAsync(options);
        var header = ProxyHeaderBuilder.V1("PROXY TCP4 127.0.0.9 127.0.0.10 40001 7\r\n");
        const string Expected = "127.0.0.9:40001 -> 127.0.0.10:7 via p\n";
        var payload = TestHelpers.RandomBytes(1000, seed: 9);
        if (!tls)
        {
            using var client = await TestHelpers.ConnectAsync(server.EndPoint());

            // Header and data in one write: the data comes in behind the header and is echoed after the greeting.
            await client.SendAllAsync(ProxyHeaderBuilder.Concat(header, payload));
            client.Shutdown(SocketShutdown.Send);
            byte[] expected = [.. Encoding.ASCII.GetBytes(Expected), .. payload];
            Assert.Equal(expected, await client.ReceiveToEndAsync());
        }
        else
        {
            using var socket = await TestHelpers.ConnectAsync(server.TlsEndPoint());
            await socket.SendAllAsync(header);
            await using var stream = new System.Net.Security.SslStream(new NetworkStream(socket), false);
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            await stream.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TlsTestHelpers.ServerCertificate.GetCertHashString(),
            }, cts.Token);
            var greeting = new byte[Expected.Length];
            await stream.ReadExactlyWithinAsync(greeting);
            Assert.Equal(Expected, Encoding.ASCII.GetString(greeting));
            await stream.WriteAllAsync(payload);
            var echoed = new byte[payload.Length];
            await stream.ReadExactlyWithinAsync(echoed);
            Assert.Equal(payload, echoed);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task The_byte_limit_counts_echo_data_only_and_the_greeting_comes_whole()
    {
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o => (o.Greeting, o.MaxBytesPerConnection) = ("0123456789abcdef\n", 10)));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        var payload = TestHelpers.RandomBytes(20, seed: 10);
        await client.SendAllAsync(payload);

        var all = await client.ReceiveToEndAsync();

        byte[] expected = [.. "0123456789abcdef\n"u8, .. payload.AsSpan(0, 10)];
        Assert.Equal(expected, all);
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Faults_shape_the_echo_and_not_the_greeting()
    {
        var greeting = new string('g', 3000) + "\n";
        await using var server = await TestHelpers.StartAsync(TestHelpers.LoopbackOptions(o =>
        {
            o.Greeting = greeting;
            o.Faults.Add(EchoFault.Limit(5));
            o.Faults.Add(EchoFault.Slice(1, 1, TimeSpan.FromMilliseconds(1)));
        }));
        using var client = await TestHelpers.ConnectAsync(server.EndPoint());
        await client.SendAllAsync(TestHelpers.RandomBytes(50, seed: 11));

        var all = await client.ReceiveToEndAsync();

        // The limit lets 5 echoed bytes through; the 3001 greeting bytes are neither cut nor counted.
        Assert.Equal(greeting.Length + 5, all.Length);
        Assert.Equal(greeting, Encoding.ASCII.GetString(all, 0, greeting.Length));
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_greeting_a_client_never_reads_is_cut_by_the_send_timeout_or_during_a_stop_by_the_shutdown_timeout(bool stop)
    {
        // Larger than the kernel's buffers on both ends can take, so the write stays pending.
        var options = TestHelpers.LoopbackOptions(o =>
        {
            o.ReceiveBufferSize = EchoServerOptions.MaxReceiveBufferSize;
            o.Greeting = new string('x', EchoServerOptions.MaxReceiveBufferSize - 1024);
            // A stop ends the housekeeping timer, so then (as for an echo being written) the shutdown timeout bounds the write.
            o.SendTimeout = stop ? TimeSpan.FromMinutes(10) : TimeSpan.FromSeconds(1);
            o.ShutdownTimeout = stop ? TimeSpan.FromSeconds(1) : TimeSpan.FromMinutes(10);
        });
        await using var server = await TestHelpers.StartAsync(options);
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.ConnectionClosed += (_, e) => closed.TrySetResult(e);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(server.EndPoint()).WaitAsync(TestHelpers.Timeout);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 1, "the connection accepted");

        var watch = Stopwatch.StartNew();
        if (stop)
        {
            // The stop lets the greeting go on (as an echo being written) until the shutdown timeout aborts it.
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }

        var e = await closed.Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
        Assert.Equal(stop ? ConnectionCloseReason.ServerStopping : ConnectionCloseReason.SendTimeout, e.Reason);
        Assert.Equal(0, e.BytesSent);
        if (!stop)
        {
            await server.AssertPoolsReturnedAsync();
        }
    }

    [Fact]
    public void Validation_names_the_option_and_its_rule()
    {
        var tooLong = TestHelpers.LoopbackOptions(o => (o.ReceiveBufferSize, o.Greeting) = (EchoServerOptions.MinReceiveBufferSize, "{remote}"));
        var ex = Assert.Throws<ArgumentException>(tooLong.Validate);
        Assert.Equal(nameof(EchoServerOptions.Greeting), ex.ParamName);
        Assert.Contains("EchoServerOptions.Greeting must fit in ReceiveBufferSize (64 bytes) when expanded with the longest endpoints", ex.Message, StringComparison.Ordinal);

        // 64 bytes of text fit exactly; the instance name counts in UTF-8.
        TestHelpers.LoopbackOptions(o => (o.ReceiveBufferSize, o.Greeting) = (64, new string('a', 64))).Validate();
        var utf8 = TestHelpers.LoopbackOptions(o => (o.ReceiveBufferSize, o.Greeting, o.InstanceName) = (64, new string('a', 60) + "{instance}", "é€"));
        Assert.Equal(nameof(EchoServerOptions.Greeting), Assert.Throws<ArgumentException>(utf8.Validate).ParamName);

        var empty = TestHelpers.LoopbackOptions(o => o.Greeting = "");
        Assert.Contains("EchoServerOptions.Greeting must not be empty, or null to turn it off.", Assert.Throws<ArgumentException>(empty.Validate).Message, StringComparison.Ordinal);
        var noName = TestHelpers.LoopbackOptions(o => o.InstanceName = "");
        var nameEx = Assert.Throws<ArgumentException>(noName.Validate);
        Assert.Equal(nameof(EchoServerOptions.InstanceName), nameEx.ParamName);
        Assert.Contains("EchoServerOptions.InstanceName must not be empty.", nameEx.Message, StringComparison.Ordinal);
        Assert.Equal(Environment.MachineName, new EchoServerOptions().InstanceName);
        Assert.Null(new EchoServerOptions().Greeting);
    }

    private static async Task<string> ReadGreetingAsync(Socket client, int length)
    {
        var greeting = new byte[length];
        await client.ReceiveExactlyAsync(greeting);
        return Encoding.UTF8.GetString(greeting);
    }
}
