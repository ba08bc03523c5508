using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Numerics;
using System.Security.Authentication;
using Xunit.Abstractions;
using static EchoKit.Tests.EchoReader;

namespace EchoKit.Tests;

/// <summary>
/// Every stream fault rule over real TLS on 127.0.0.1, measured from an <see cref="SslStream"/> client: when the
/// decrypted echo comes, in what reads, how many bytes, whether it is intact, and whether the session ends with
/// close_notify/FIN (a 0-byte read) or RST (a reset). Lower time bounds only (the server never writes early); upper
/// bounds are loose (the machine is shared).
/// </summary>
public sealed class TlsFaultTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Loose = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Latency_writes_each_echo_no_sooner_than_the_delay()
    {
        await using var server = await StartAsync("latency:delay=200ms,on=tls");
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            for (var i = 0; i < 3; i++)
            {
                var started = Stopwatch.StartNew();
                Assert.Equal([(byte)i, 1, 2, 3], await EchoAsync(client, [(byte)i, 1, 2, 3]));
                Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), Loose);
            }
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Slice_writes_each_piece_as_its_own_record_of_at_most_the_slice_size()
    {
        await using var server = await StartAsync("slice:size=1-16");
        var (client, _, records) = await ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            // The session tickets of TLS 1.3 come before the first echo; the records counted after it are echoes only.
            Assert.Equal([0], await EchoAsync(client, [0]));
            records.Clear();
            var payload = TestHelpers.RandomBytes(512, seed: 5);
            await client.WriteAllAsync(payload);
            var (data, _, end) = await ReadAsync(client, payload.Length);

            Assert.Equal(payload, data);
            Assert.Equal(Ending.Open, end);
            output.WriteLine($"records: {string.Join(",", records.ApplicationData())}");
            AssertRecordsCarryAtMost(records, payload.Length, 16, minRecords: 32);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Slice_with_a_delay_after_latency_delays_then_slices()
    {
        await using var server = await StartAsync("latency:delay=150ms", "slice:size=2,delay=40ms");
        var (client, _, records) = await ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            Assert.Equal([0, 0], await EchoAsync(client, [0, 0]));
            records.Clear();
            var started = Stopwatch.StartNew();
            await client.WriteAllAsync(new byte[8]);
            var (data, _, _) = await ReadAsync(client, 8);

            Assert.Equal(8, data.Length);
            Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(150 + 3 * 40), Loose);
            AssertRecordsCarryAtMost(records, 8, 2, minRecords: 4);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Limit_echoes_exactly_its_bytes_then_close_notify_and_drains_until_the_client_closes()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["limit:bytes=100"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        var (client, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            await client.WriteAllAsync(new byte[60]);
            await client.WriteAllAsync(new byte[240]);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Equal(100, data.Length);
            Assert.Equal(Ending.Closed, end);
            Assert.False(closed.Task.IsCompleted, "the server drains until the client closes");
            await client.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
            var e = await closed.Task.WaitAsync(TestHelpers.Timeout);
            Assert.Equal(ConnectionCloseReason.FaultInjected, e.Reason);
            Assert.Equal(100, e.BytesSent);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Limit_with_then_reset_echoes_its_bytes_then_resets()
    {
        await using var server = await StartAsync("limit:bytes=100,then=reset");
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            await client.WriteAllAsync(new byte[300]);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Equal(Ending.Reset, end);
            Assert.True(data.Length <= 100, $"{data.Length} bytes echoed past a limit of 100");
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesSent == 100, "100 bytes sent");
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Reset_after_echoes_until_then_and_resets_no_sooner()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["reset:after=1500ms"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        var connecting = Stopwatch.StartNew();
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            Assert.Equal([1, 2, 3], await EchoAsync(client, [1, 2, 3]));
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Empty(data);
            Assert.Equal(Ending.Reset, end);
            Assert.InRange(connecting.Elapsed, TimeSpan.FromMilliseconds(1500), Loose);
            Assert.Equal(ConnectionCloseReason.FaultInjected, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Reset_after_wakes_an_echo_that_latency_holds_and_resets_without_it()
    {
        await using var server = await StartAsync("latency:delay=10m", "reset:after=1500ms");
        var connecting = Stopwatch.StartNew();
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            await client.WriteAllAsync(new byte[16]);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Empty(data);
            Assert.Equal(Ending.Reset, end);
            Assert.InRange(connecting.Elapsed, TimeSpan.FromMilliseconds(1500), Loose);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Reset_at_once_resets_the_session_before_any_echo()
    {
        await using var server = await StartAsync("reset");

        SslStream client;
        try
        {
            (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException)
        {
            // The RST came while the client still finished its handshake: a reset seen by the client too.
            client = null!;
        }

        output.WriteLine(client is null ? "the handshake itself was reset" : "the handshake completed; the session was reset");
        if (client is not null)
        {
            await using (client)
            {
                var (data, end) = await SendAndReadAsync(client);
                Assert.Empty(data);
                Assert.Equal(Ending.Reset, end);
            }
        }

        await TestHelpers.WaitUntilAsync(() => server.GetStatistics() is { AcceptedConnections: 1, BytesSent: 0, ActiveConnections: 0 }, "one accepted connection, nothing echoed");
        await server.AssertPoolsReturnedAsync();
    }

    [Theory]
    [InlineData("refuse")]
    [InlineData("refuse:mode=close")]
    public async Task Refuse_fails_the_handshake_and_counts_a_rejection(string rule)
    {
        var rejected = new TaskCompletionSource<ConnectionRejectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var accepted = 0;
        await using var server = await StartAsync([rule], s =>
        {
            s.ConnectionRejected += (_, e) => rejected.TrySetResult(e);
            s.ConnectionAccepted += (_, _) => Interlocked.Increment(ref accepted);
        });

        var failure = await Record.ExceptionAsync(async () =>
        {
            var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
            await client.DisposeAsync();
        });

        Assert.True(failure is IOException or SocketException or AuthenticationException, $"the handshake should fail; it ended with {failure?.GetType().Name ?? "success"}");
        Assert.Equal(ConnectionRejectionReason.FaultInjected, (await rejected.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics() is { RejectedConnections: 1, AcceptedConnections: 0 }, "one rejected connection");
        Assert.Equal(0, Volatile.Read(ref accepted));
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Blackhole_reads_everything_and_echoes_nothing()
    {
        await using var server = await StartAsync("blackhole");
        var (client, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            for (var i = 0; i < 10; i++)
            {
                await client.WriteAllAsync(new byte[10_000]);
            }

            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived == 100_000, "all 100,000 bytes read");
            Assert.Equal(0, server.GetStatistics().BytesSent);
            await client.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);
            Assert.Empty(data);
            Assert.Equal(Ending.Closed, end);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Blackhole_with_close_after_closes_no_sooner_than_that()
    {
        await using var server = await StartAsync("blackhole:close-after=300ms");
        var connecting = Stopwatch.StartNew();
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            await client.WriteAllAsync(new byte[100]);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Empty(data);
            Assert.Equal(Ending.Closed, end);
            Assert.InRange(connecting.Elapsed, TimeSpan.FromMilliseconds(300), Loose);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Bandwidth_holds_the_echo_to_its_rate()
    {
        await using var server = await StartAsync("bandwidth:rate=64KiB");
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            var payload = TestHelpers.RandomBytes(128 * 1024, seed: 11);
            var started = Stopwatch.StartNew();
            var writing = client.WriteAllAsync(payload);
            var (data, _, end) = await ReadAsync(client, payload.Length);
            var elapsed = started.Elapsed;
            await writing.WaitAsync(TestHelpers.Timeout);

            Assert.Equal(Ending.Open, end);
            Assert.Equal(payload, data);

            // 2 s at 64 KiB/s; the first 1/50 s goes at once. A lower bound only: a loaded machine is slower, never faster.
            output.WriteLine($"128 KiB echoed at 64 KiB/s in {elapsed.TotalSeconds:F2} s");
            Assert.InRange(elapsed, TimeSpan.FromSeconds(1.5), TestHelpers.Timeout);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Slow_close_holds_close_notify_back_by_its_delay_after_the_client_closed()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(["slow-close:delay=600ms"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e));
        var (client, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            Assert.Equal([7, 8], await EchoAsync(client, [7, 8]));
            var closing = Stopwatch.StartNew();
            await client.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
            var (data, _, end) = await ReadAsync(client, int.MaxValue);

            Assert.Empty(data);
            Assert.Equal(Ending.Closed, end);
            output.WriteLine($"close_notify {closing.Elapsed.TotalMilliseconds:F0} ms after the client's");
            Assert.InRange(closing.Elapsed, TimeSpan.FromMilliseconds(600), Loose);
            Assert.Equal(ConnectionCloseReason.ClientClosed, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Stall_reads_echoes_its_bytes_then_reads_no_more_so_the_clients_writes_block()
    {
        var closed = new TaskCompletionSource<ConnectionClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);

        // A stalled connection notices nothing the client does (it reads nothing); IdleTimeout is what ends it.
        await using var server = await StartAsync(["stall-reads:after=16KiB"], s => s.ConnectionClosed += (_, e) => closed.TrySetResult(e), o => o.IdleTimeout = TimeSpan.FromSeconds(5));

        // A fixed send buffer (no autotuning up to 4 MiB), so the kernel cannot take the whole write in.
        var (client, _, _) = await ConnectAsync(server.TlsEndPoint(), s => s.SendBufferSize = 256 * 1024);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var payload = TestHelpers.RandomBytes(4 * 1024 * 1024, seed: 13);
        Task writing;
        await using (client)
        {
            writing = client.WriteAsync(payload, cts.Token).AsTask();
            var echoed = new byte[16 * 1024];
            await client.ReadExactlyWithinAsync(echoed);
            Assert.Equal(payload[..echoed.Length], echoed);

            await Task.WhenAny(writing, Task.Delay(TimeSpan.FromSeconds(2)));
            Assert.False(writing.IsCompleted, "a write of 4 MiB completed although the server stopped reading");
            var received = server.GetStatistics().BytesReceived;
            Assert.InRange(received, 16 * 1024, payload.Length - 1);
            Assert.Equal(ConnectionCloseReason.IdleTimeout, (await closed.Task.WaitAsync(TestHelpers.Timeout)).Reason);
        }

        // The server's close (or disposing the client) ends the blocked write.
        await Record.ExceptionAsync(() => writing.WaitAsync(TestHelpers.Timeout));
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Corrupt_flips_about_one_bit_per_every_bytes_of_the_plaintext_and_TLS_stays_valid()
    {
        await using var server = await StartAsync("corrupt:every=64");
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            var payload = TestHelpers.RandomBytes(64 * 1024, seed: 17);
            var writing = client.WriteAllAsync(payload);
            var (data, _, end) = await ReadAsync(client, payload.Length);
            await writing.WaitAsync(TestHelpers.Timeout);

            Assert.Equal(Ending.Open, end);
            Assert.Equal(payload.Length, data.Length);
            var flipped = 0;
            for (var i = 0; i < payload.Length; i++)
            {
                flipped += BitOperations.PopCount((uint)(payload[i] ^ data[i]));
            }

            output.WriteLine($"{flipped} bits flipped in 64 KiB (1,024 expected)");
            Assert.InRange(flipped, 1024 * 60 / 100, 1024 * 140 / 100);

            // The session is intact: TLS authenticated every record, and the next echo comes as well.
            Assert.Equal(4, (await EchoAsync(client, [1, 2, 3, 4])).Length);
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task A_runtime_replace_reaches_a_live_tls_connection_at_its_next_echo()
    {
        await using var server = await StartAsync();
        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            Assert.Equal([1], await EchoAsync(client, [1]));

            server.Faults.Replace([EchoFault.Latency(TimeSpan.FromMilliseconds(300))]);
            var started = Stopwatch.StartNew();
            Assert.Equal([2], await EchoAsync(client, [2]));
            Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Loose);

            server.Faults.Clear();
            Assert.Equal([3], await EchoAsync(client, [3]));
        }

        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task The_accepted_event_lists_the_rules_a_tls_connection_got()
    {
        var faultsById = new ConcurrentDictionary<long, IReadOnlyList<EchoFault>>();
        await using var server = await StartAsync(
            ["latency:delay=1ms,on=tls", "slice:size=4,on=tcp", "limit:bytes=1GiB"],
            s => s.ConnectionAccepted += (_, e) => faultsById[e.ConnectionId] = e.Faults,
            o => o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0)));

        var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            Assert.Equal([9], await EchoAsync(client, [9]));
        }

        await TestHelpers.WaitUntilAsync(() => faultsById.Count == 1, "the accepted event");
        Assert.Equal(["latency:delay=1ms,on=tls", "limit:bytes=1GiB"], faultsById.Values.Single().Select(f => f.ToString()));
        await server.AssertPoolsReturnedAsync();
    }

    [Fact]
    public async Task Without_waiting_for_data_latency_and_a_blackholes_close_work_the_same()
    {
        await using (var server = await StartAsync(["latency:delay=200ms"], configure: null, o => o.WaitForDataBeforeAllocatingBuffer = false))
        {
            var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
            await using (client)
            {
                var started = Stopwatch.StartNew();
                Assert.Equal([5, 6], await EchoAsync(client, [5, 6]));
                Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), Loose);
            }

            await server.AssertPoolsReturnedAsync();
        }

        await using (var server = await StartAsync(["blackhole:close-after=300ms"], configure: null, o => o.WaitForDataBeforeAllocatingBuffer = false))
        {
            var connecting = Stopwatch.StartNew();
            var (client, _) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
            await using (client)
            {
                await client.WriteAllAsync(new byte[100]);
                var (data, _, end) = await ReadAsync(client, int.MaxValue);

                Assert.Empty(data);
                Assert.Equal(Ending.Closed, end);
                Assert.InRange(connecting.Elapsed, TimeSpan.FromMilliseconds(300), Loose);
            }

            await server.AssertPoolsReturnedAsync();
        }
    }

    [Theory]
    [InlineData("latency:delay=10m")]
    [InlineData("slice:size=1,delay=10m")]
    [InlineData("blackhole")]
    [InlineData("bandwidth:rate=1")]
    [InlineData("stall-reads:after=1")]
    [InlineData("slow-close:delay=10m")]
    public async Task Stop_ends_faulted_tls_connections_within_the_shutdown_timeout(string rule)
    {
        await using var server = await StartAsync([rule], configure: null, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        var (client, socket) = await TlsTestHelpers.ConnectAsync(server.TlsEndPoint());
        await using (client)
        {
            await client.WriteAllAsync(new byte[4]);
            await TestHelpers.WaitUntilAsync(() => server.GetStatistics().BytesReceived == 4, "the bytes received");
            if (rule.StartsWith("slow-close", StringComparison.Ordinal))
            {
                // The server holds its close back only once the client has closed.
                await client.ShutdownAsync();
                socket.Shutdown(SocketShutdown.Send);
                await Task.Delay(300);
            }

            var stopping = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(TestHelpers.Timeout);

            Assert.InRange(stopping.Elapsed, TimeSpan.Zero, Loose);
            Assert.Equal(0, server.GetStatistics().ActiveConnections);
            Assert.Equal((0, 0), server.PoolOutstanding);
        }
    }

    private static async Task<EchoServer> StartAsync(params string[] rules) => await StartAsync(rules, configure: null);

    private static async Task<EchoServer> StartAsync(string[] rules, Action<EchoServer>? configure, Action<EchoServerOptions>? options = null)
    {
        var server = new EchoServer(TlsTestHelpers.TlsOptions(o =>
        {
            foreach (var rule in rules)
            {
                o.Faults.Add(EchoFault.Parse(rule));
            }

            o.FaultSeed = 1;
            options?.Invoke(o);
        }));
        configure?.Invoke(server);
        await server.StartAsync();
        return server;
    }

    private static async Task<byte[]> EchoAsync(SslStream client, byte[] payload)
    {
        await client.WriteAllAsync(payload);
        var echoed = new byte[payload.Length];
        await client.ReadExactlyWithinAsync(echoed);
        return echoed;
    }

    /// <summary>Sends a few bytes and reads to the end; a reset already failing the write is a reset seen by the client too.</summary>
    private static async Task<(byte[] Data, Ending End)> SendAndReadAsync(SslStream client)
    {
        try
        {
            await client.WriteAllAsync(new byte[10]);
        }
        catch (Exception ex) when (IsReset(ex))
        {
            return ([], Ending.Reset);
        }

        var (data, _, end) = await ReadAsync(client, int.MaxValue);
        return (data, end);
    }

    /// <summary>
    /// Every application-data record since the last <see cref="RecordLog.Clear"/> carries at most <paramref name="max"/>
    /// plaintext bytes. A record's plaintext is its length less the cipher's overhead, which is the same for every
    /// record of an AEAD suite: the overhead is what the records carry beyond the <paramref name="plaintext"/> bytes
    /// echoed, shared equally, so it has to divide evenly.
    /// </summary>
    private static void AssertRecordsCarryAtMost(RecordLog records, int plaintext, int max, int minRecords)
    {
        var lengths = records.ApplicationData();
        var shown = string.Join(",", lengths);
        Assert.True(lengths.Count >= minRecords, $"{lengths.Count} records, at least {minRecords} expected ({shown})");
        var overhead = (lengths.Sum() - plaintext) / lengths.Count;
        Assert.True(overhead * lengths.Count == lengths.Sum() - plaintext, $"the records' overhead is not the same for each ({shown})");
        Assert.InRange(overhead, 1, 64);
        Assert.True(lengths.Max() - overhead <= max, $"a record of {lengths.Max() - overhead} plaintext bytes; at most {max} expected ({shown})");
    }

    /// <summary>As <see cref="TlsTestHelpers.ConnectAsync"/>, with the client's socket set up by <paramref name="configure"/>, and the TLS records it receives logged.</summary>
    private static async Task<(SslStream Stream, Socket Socket, RecordLog Records)> ConnectAsync(IPEndPoint endPoint, Action<Socket>? configure = null)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            configure?.Invoke(socket);
            await socket.ConnectAsync(endPoint, cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var records = new RecordLog(new NetworkStream(socket, ownsSocket: true));
        var stream = new SslStream(records, leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TlsTestHelpers.ServerCertificate.GetCertHashString(),
                },
                cts.Token);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }

        return (stream, socket, records);
    }

    /// <summary>
    /// The client's transport, which parses the TLS record headers (type, version, 16-bit length) in what it reads, so
    /// a test sees the records the server wrote whatever the client's <see cref="SslStream"/> makes of them (it may
    /// decrypt several records in one read).
    /// </summary>
    private sealed class RecordLog(Stream inner) : PassThroughStream(inner)
    {
        private const byte ApplicationDataType = 23;

        private readonly Lock _gate = new();
        private readonly List<int> _applicationData = [];
        private readonly byte[] _header = new byte[5];
        private int _headerFilled;
        private int _bodyLeft;

        /// <summary>The lengths of the application-data records read so far (ciphertext, header excluded).</summary>
        public List<int> ApplicationData()
        {
            lock (_gate)
            {
                return [.. _applicationData];
            }
        }

        public void Clear()
        {
            lock (_gate)
            {
                _applicationData.Clear();
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await Inner.ReadAsync(buffer, cancellationToken);
            Parse(buffer.Span[..read]);
            return read;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = Inner.Read(buffer, offset, count);
            Parse(buffer.AsSpan(offset, read));
            return read;
        }

        private void Parse(ReadOnlySpan<byte> data)
        {
            lock (_gate)
            {
                while (!data.IsEmpty)
                {
                    if (_bodyLeft > 0)
                    {
                        var skip = Math.Min(_bodyLeft, data.Length);
                        _bodyLeft -= skip;
                        data = data[skip..];
                        continue;
                    }

                    var take = Math.Min(_header.Length - _headerFilled, data.Length);
                    data[..take].CopyTo(_header.AsSpan(_headerFilled));
                    _headerFilled += take;
                    data = data[take..];
                    if (_headerFilled == _header.Length)
                    {
                        _headerFilled = 0;
                        _bodyLeft = (_header[3] << 8) | _header[4];
                        if (_header[0] == ApplicationDataType)
                        {
                            _applicationData.Add(_bodyLeft);
                        }
                    }
                }
            }
        }
    }
}
