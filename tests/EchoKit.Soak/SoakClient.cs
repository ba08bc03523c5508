using System.Net;
using System.Net.Sockets;

namespace EchoKit.Soak;

/// <summary>
/// One soak connection: sends a random-sized slice (1..max bytes) of a shared random block, reads the echo back and
/// compares it, over and over. Counters are written by its own loop only and read by the sampler.
/// </summary>
internal sealed class SoakClient(Socket socket, int index)
{
    private long _echoes;
    private long _bytes;
    private long _mismatches;
    private long _lastProgressTick = Environment.TickCount64;

    public Socket Socket { get; } = socket;

    public int Index { get; } = index;

    public long Echoes => Volatile.Read(ref _echoes);

    public long Bytes => Volatile.Read(ref _bytes);

    public long Mismatches => Volatile.Read(ref _mismatches);

    public long LastProgressTick => Volatile.Read(ref _lastProgressTick);

    public Exception? Failure { get; private set; }

    public static async Task<SoakClient> ConnectAsync(IPAddress source, IPEndPoint server, int index, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                // Only Linux routes all of 127.0.0.0/8 to loopback; elsewhere connect from the default address.
            }

            await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            return new SoakClient(socket, index);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Echoes until <paramref name="stop"/> is cancelled (checked between messages, so no message is cut).</summary>
    public async Task RunAsync(byte[] block, int maxMessage, int seed, int thinkMilliseconds, CancellationToken stop)
    {
        try
        {
#pragma warning disable CA5394 // Not security: reproducible message sizes.
            var random = new Random(seed);
            var echoed = new byte[maxMessage];
            var offset = random.Next(block.Length - maxMessage);
            while (!stop.IsCancellationRequested)
            {
                var size = random.Next(1, maxMessage + 1);
#pragma warning restore CA5394
                if (offset + size > block.Length)
                {
                    offset = 0;
                }

                var message = block.AsMemory(offset, size);
                for (var sent = 0; sent < size;)
                {
                    sent += await Socket.SendAsync(message[sent..], SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
                }

                for (var read = 0; read < size;)
                {
                    var n = await Socket.ReceiveAsync(echoed.AsMemory(read, size - read), SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
                    if (n == 0)
                    {
                        throw new EndOfStreamException($"connection {Index}: the server closed mid-echo ({read} of {size} bytes back)");
                    }

                    read += n;
                }

                if (!echoed.AsSpan(0, size).SequenceEqual(message.Span))
                {
                    Interlocked.Increment(ref _mismatches);
                }

                offset += size;
                Volatile.Write(ref _echoes, _echoes + 1);
                Volatile.Write(ref _bytes, _bytes + size);
                Volatile.Write(ref _lastProgressTick, Environment.TickCount64);
                if (thinkMilliseconds > 0)
                {
                    await Task.Delay(thinkMilliseconds, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or EndOfStreamException or ObjectDisposedException)
        {
            Failure = ex;
        }
    }

    /// <summary>Half-closes and expects a clean end of stream with nothing more; returns a problem, or null.</summary>
    public async Task<string?> CloseAsync(TimeSpan timeout)
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Send);
            using var cts = new CancellationTokenSource(timeout);
            var buffer = new byte[256];
            var extra = 0;
            int n;
            while ((n = await Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false)) > 0)
            {
                extra += n;
            }

            return extra == 0 ? null : $"connection {Index}: {extra} unexpected bytes after half-close";
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return $"connection {Index}: {ex.GetType().Name} ({ex.Message}) while closing";
        }
        finally
        {
            Socket.Dispose();
        }
    }
}
