using System.Net;
using System.Net.Sockets;

namespace EchoKit.Testing;

/// <summary>
/// Client-side socket plumbing shared by every test project (linked, not copied): connect, send all, read exactly,
/// read to the end, bounded waits. Every wait ends by <see cref="Timeout"/>.
/// </summary>
internal static class SocketTestHelpers
{
    /// <summary>The upper bound for any single wait in a test; tests never hang past it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Connects a TCP (no delay) or Unix-socket client.</summary>
    public static async Task<Socket> ConnectAsync(EndPoint endPoint)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
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

    /// <summary>Reads until the server closes (or resets); returns everything read.</summary>
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

    /// <summary>Sends <paramref name="payload"/> and reads back as many bytes.</summary>
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

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
