using System.Diagnostics;
using System.Net.Sockets;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>One churn worker: connect, echo one verified message, close; again until the run stops.</summary>
internal sealed class ChurnWorker(int id, ChurnOptions options, MessagePattern pattern, EchoRunState run, CancellationToken abort)
{
    private readonly byte[] _send = new byte[pattern.MessageSize];
    private readonly byte[] _receive = new byte[pattern.MessageSize];

    public LatencyHistogram Histogram { get; } = new();

    public long Completed { get; private set; }

    public long Verified { get; private set; }

    public long Errors { get; private set; }

    public long Mismatches { get; private set; }

    public string? FirstError { get; private set; }

    public async Task RunAsync()
    {
        long sequence = 0;
        var consecutiveErrors = 0;
        while (!run.Stopping && !abort.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            var source = options.SourceFor(id + (int)(sequence % 1024 * options.Concurrency));
            Socket? socket = null;
            try
            {
                socket = await LoopbackSocket.ConnectAsync(options.EndPoint, source, options.ConnectTimeout).ConfigureAwait(false);
                if (options.ProxyHeader != ProxyHeaderVersion.None)
                {
                    var header = ConnectionPrologue.Header(options.ProxyHeader, (System.Net.IPEndPoint)socket.LocalEndPoint!, (System.Net.IPEndPoint)socket.RemoteEndPoint!);
                    await LoopbackSocket.SendAllAsync(socket, header, abort).ConfigureAwait(false);
                }

                pattern.Write(id, sequence, _send);
                await LoopbackSocket.SendAllAsync(socket, _send, abort).ConfigureAwait(false);
                var got = 0;
                while (got < _receive.Length)
                {
                    var n = await socket.ReceiveAsync(_receive.AsMemory(got), SocketFlags.None, abort).ConfigureAwait(false);
                    if (n == 0)
                    {
                        throw new IOException($"the server closed the connection after echoing {got} of {_receive.Length} bytes");
                    }

                    got += n;
                }

                if (!pattern.Verify(id, sequence, 0, _receive))
                {
                    Mismatches++;
                }

                socket.Dispose();
                socket = null;
                Verified++;
                consecutiveErrors = 0;
                if (run.Recording)
                {
                    Completed++;
                    Histogram.Record(Stopwatch.GetTimestamp() - start);
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                socket?.Dispose();
                if (abort.IsCancellationRequested)
                {
                    break;
                }

                Errors++;
                FirstError ??= $"churn worker {id}: {LoopbackSocket.Describe(ex)}";
                consecutiveErrors++;

                // Do not spin on a server that refuses: back off a little, more after repeated failures.
                await Task.Delay(Math.Min(10 * consecutiveErrors, 200), CancellationToken.None).ConfigureAwait(false);
            }

            sequence++;
        }
    }
}
