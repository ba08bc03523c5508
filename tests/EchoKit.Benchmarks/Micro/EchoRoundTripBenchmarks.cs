using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace EchoKit.Benchmarks.Micro;

/// <summary>
/// One echo round trip over loopback against an in-process <see cref="EchoServer"/>, with a blocking client on a
/// pre-allocated buffer. Allocated bytes are process-wide, so they include the server's: they show what one echoed
/// message costs the engine.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // BenchmarkDotNet owns the lifetime: GlobalSetup creates, GlobalCleanup disposes.
public class EchoRoundTripBenchmarks
#pragma warning restore CA1001
{
    private EchoServer _server = null!;
    private Socket _client = null!;
    private byte[] _send = null!;
    private byte[] _receive = null!;

    [Params(64, 4096)]
    public int Size { get; set; }

    [Params(true, false)]
    public bool WaitForData { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = new EchoServer(new EchoServerOptions
        {
            EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) },
            WaitForDataBeforeAllocatingBuffer = WaitForData,
        });
        _server.StartAsync().GetAwaiter().GetResult();
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        _client.Connect(_server.EndPoints[0]);
        _send = new byte[Size];
        Random.Shared.NextBytes(_send);
        _receive = new byte[Size];
    }

    [Benchmark]
    public int RoundTrip()
    {
        _client.Send(_send);
        var got = 0;
        while (got < _receive.Length)
        {
            var n = _client.Receive(_receive.AsSpan(got));
            if (n == 0)
            {
                throw new InvalidOperationException("The server closed the connection.");
            }

            got += n;
        }

        return got;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
