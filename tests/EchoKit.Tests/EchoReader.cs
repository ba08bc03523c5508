using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>How a read of an echo ended.</summary>
public enum Ending
{
    /// <summary>Still open: the expected bytes came.</summary>
    Open,

    /// <summary>A 0-byte read: the server sent FIN (or, over TLS, close_notify or FIN).</summary>
    Closed,

    /// <summary>A connection reset: the server sent RST.</summary>
    Reset,
}

/// <summary>Reads an echo as a client sees it, over a socket or a stream (TLS), recording each read's size.</summary>
internal static class EchoReader
{
    /// <summary>Reads until <paramref name="expected"/> bytes came, or the server closed or reset.</summary>
    public static Task<(byte[] Data, List<int> Reads, Ending End)> ReadAsync(Socket client, int expected) =>
        ReadAsync((buffer, cancellationToken) => client.ReceiveAsync(buffer, SocketFlags.None, cancellationToken), expected);

    /// <summary>
    /// A client socket for <see cref="ReadOnThreadAsync"/>: connected synchronously and to be used synchronously only,
    /// so the runtime keeps it in blocking mode and its receives wait in the kernel. (Once a socket has been used
    /// asynchronously, even its synchronous receives are completed through the thread pool.)
    /// </summary>
    public static Socket ConnectBlocking(System.Net.IPEndPoint endPoint)
    {
        var client = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.ReceiveTimeout = client.SendTimeout = (int)TestHelpers.Timeout.TotalMilliseconds;
        client.Connect(endPoint);
        return client;
    }

    /// <summary>
    /// <see cref="ReadAsync(Socket, int)"/> with blocking receives on a thread of its own, on a socket from
    /// <see cref="ConnectBlocking"/>, for tests of piece sizes: a receive that waits for the thread pool comes late on
    /// a busy machine, finds several pieces in the socket and returns them as one (CI saw 16 bytes of 1-4-byte pieces
    /// 60 ms apart). <c>ReadAt</c> is when each read returned, in milliseconds from the call, for a failure's message.
    /// </summary>
    public static Task<(byte[] Data, List<int> Reads, Ending End, List<long> ReadAt)> ReadOnThreadAsync(Socket client, int expected)
    {
        var since = System.Diagnostics.Stopwatch.StartNew();
        var readAt = new List<long>();

        // The read completes synchronously, so the whole loop runs on the new thread.
        return Task.Factory.StartNew(
            () =>
            {
                var (data, reads, end) = ReadAsync(
                    (buffer, _) =>
                    {
                        var count = client.Receive(buffer.Span);
                        readAt.Add(since.ElapsedMilliseconds);
                        return ValueTask.FromResult(count);
                    },
                    expected).GetAwaiter().GetResult();
                return (data, reads, end, readAt);
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    /// <inheritdoc cref="ReadAsync(Socket, int)"/>
    public static Task<(byte[] Data, List<int> Reads, Ending End)> ReadAsync(Stream client, int expected) =>
        ReadAsync(client.ReadAsync, expected);

    /// <summary>Whether <paramref name="exception"/> or one it wraps is a connection reset.</summary>
    public static bool IsReset(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                return true;
            }
        }

        return false;
    }

    private static async Task<(byte[] Data, List<int> Reads, Ending End)> ReadAsync(
        Func<Memory<byte>, CancellationToken, ValueTask<int>> read, int expected)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        using var all = new MemoryStream();
        var reads = new List<int>();
        var buffer = new byte[64 * 1024];
        while (all.Length < expected)
        {
            int count;
            try
            {
                count = await read(buffer, cts.Token);
            }
            catch (Exception ex) when (IsReset(ex))
            {
                return (all.ToArray(), reads, Ending.Reset);
            }

            if (count == 0)
            {
                return (all.ToArray(), reads, Ending.Closed);
            }

            reads.Add(count);
            all.Write(buffer, 0, count);
        }

        return (all.ToArray(), reads, Ending.Open);
    }
}
