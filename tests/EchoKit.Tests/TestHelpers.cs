using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>Shared plumbing for tests: servers on loopback port 0, clients, and bounded waits.</summary>
internal static class TestHelpers
{
    /// <summary>The upper bound for any single wait in a test; tests never hang past it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static EchoServerOptions LoopbackOptions(Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        configure?.Invoke(options);
        return options;
    }

    public static async Task<EchoServer> StartAsync(EchoServerOptions? options = null)
    {
        var server = new EchoServer(options ?? LoopbackOptions());
        await server.StartAsync();
        return server;
    }

    public static IPEndPoint EndPoint(this EchoServer server, int index = 0) => (IPEndPoint)server.EndPoints[index];

    public static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(endPoint, cts.Token);
        return socket;
    }

    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cts.Token);
            data = data[sent..];
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws (end of stream or timeout).</summary>
    public static async Task ReceiveExactlyAsync(this Socket socket, Memory<byte> buffer)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                throw new EndOfStreamException($"The server closed with {buffer.Length} bytes still expected.");
            }

            buffer = buffer[read..];
        }
    }

    /// <summary>Reads until the server closes; returns everything read.</summary>
    public static async Task<byte[]> ReceiveToEndAsync(this Socket socket)
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }

    public static async Task<byte[]> EchoAsync(this Socket socket, byte[] payload)
    {
        await socket.SendAllAsync(payload);
        var echoed = new byte[payload.Length];
        await socket.ReceiveExactlyAsync(echoed);
        return echoed;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <see cref="Timeout"/> passes.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Waits until the server has no connection and every pooled object is back: nothing leaked.</summary>
    public static Task AssertPoolsReturnedAsync(this EchoServer server) =>
        WaitUntilAsync(
            () => server.GetStatistics().ActiveConnections == 0 && server.PoolOutstanding == (0, 0),
            $"pools back to baseline (outstanding {server.PoolOutstanding}, active {server.GetStatistics().ActiveConnections})");

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
