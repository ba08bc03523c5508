using System.Net;
using System.Net.Sockets;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>Creates and connects client sockets, optionally from a chosen local address.</summary>
internal static class LoopbackSocket
{
    private const int SolIp = 0;

    // IP_BIND_ADDRESS_NO_PORT: bind the address now, pick the port at connect time from the whole 4-tuple, so
    // many source addresses multiply the usable ephemeral ports.
    private const int IpBindAddressNoPort = 24;

    public static async ValueTask<Socket> ConnectAsync(IPEndPoint remote, IPAddress? source, TimeSpan timeout, int receiveBufferSize = 0)
    {
        var socket = new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBufferSize > 0)
            {
                socket.ReceiveBufferSize = receiveBufferSize;
            }

            if (source is not null)
            {
                if (OperatingSystem.IsLinux())
                {
                    socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, [1, 0, 0, 0]);
                }

                socket.Bind(new IPEndPoint(source, 0));
            }

            using var cts = new CancellationTokenSource(timeout);
            await socket.ConnectAsync(remote, cts.Token).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    public static string Describe(Exception exception) => exception switch
    {
        SocketException se => $"{se.SocketErrorCode}: {se.Message}",
        OperationCanceledException => "timed out",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };

    /// <summary>Runs <paramref name="work"/> for 0..count-1 with at most <paramref name="concurrency"/> at once.</summary>
    public static Task ForEachAsync(int count, int concurrency, Func<int, ValueTask> work) =>
        Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, (i, _) => work(i));
}
