using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Benchmarks.Faults;

/// <summary>One bandwidth case: the echo rate each connection read, against the rule's rate.</summary>
internal sealed record BandwidthResult(
    string Rule,
    long Rate,
    int Connections,
    int ReceiveBufferSize,
    double MinBytesPerSecond,
    double MeanBytesPerSecond,
    double MaxBytesPerSecond,
    double MinErrorPercent,
    double MaxErrorPercent,
    bool Met);

/// <summary>
/// Bandwidth accuracy: each connection sends continuously and reads continuously for the case's duration under a
/// <c>bandwidth</c> rule (each connection limited on its own); the rate is the bytes read between the first and the
/// last read of the steady window (the warm-up, which includes the first burst, excluded) over the time between them.
/// A diagnostic row per rate uses a receive buffer of exactly 4 pieces (the rule writes at most rate/50 bytes at a
/// time): no short last piece per receive, so it tells whether short pieces are where the rate is lost.
/// </summary>
internal static class BandwidthAccuracy
{
    private const int ChunkSize = 16 * 1024;

    public static async Task<List<BandwidthResult>> RunAsync(FaultAccuracySettings settings)
    {
        var results = new List<BandwidthResult>();
        foreach (var (rule, rate) in new[] { ("bandwidth:rate=256KiB", 256L * 1024), ("bandwidth:rate=1MiB", 1024L * 1024) })
        {
            var fourPieces = (int)(4 * (rate / 50));
            foreach (var (connections, receiveBuffer) in new[] { (1, 0), (10, 0), (1, fourPieces), (10, fourPieces) })
            {
                Console.Error.WriteLine($"bandwidth: {rule} on {connections} connection(s){(receiveBuffer > 0 ? $", receive buffer {receiveBuffer}" : "")}");
                var (server, endPoint) = await AccuracyServer.StartAsync(o =>
                {
                    o.Faults.Add(EchoFault.Parse(rule));
                    if (receiveBuffer > 0)
                    {
                        o.ReceiveBufferSize = receiveBuffer;
                    }
                });
                await using (server)
                {
                    var start = Stopwatch.GetTimestamp();
                    var windowStart = start + (long)(settings.Warmup.TotalSeconds * Stopwatch.Frequency);
                    var end = start + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
                    var rates = await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => StreamAsync(endPoint, windowStart, end, settings.Duration)));
                    var errors = rates.Select(r => (r / rate - 1) * 100).ToArray();
                    results.Add(new BandwidthResult(rule, rate, connections, receiveBuffer > 0 ? receiveBuffer : new EchoServerOptions().ReceiveBufferSize, Math.Round(rates.Min()), Math.Round(rates.Average()), Math.Round(rates.Max()),
                        Math.Round(errors.Min(), 2), Math.Round(errors.Max(), 2), errors.All(e => Math.Abs(e) <= 5)));
                }
            }
        }

        return results;
    }

    /// <summary>One connection's echo rate in bytes per second over the steady window; NaN if it read too little to tell.</summary>
    private static async Task<double> StreamAsync(IPEndPoint endPoint, long windowStart, long end, TimeSpan duration)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(duration + TimeSpan.FromSeconds(15));
        await socket.ConnectAsync(endPoint, timeout.Token);
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
        var chunk = new byte[ChunkSize];
        Random.Shared.NextBytes(chunk);
        var sender = SendAsync(socket, chunk, stopSending.Token);
        var buffer = new byte[64 * 1024];
        long first = 0, last = 0, bytes = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                throw new IOException("The server closed the connection.");
            }

            var now = Stopwatch.GetTimestamp();
            if (now < windowStart || now >= end)
            {
                continue;
            }

            // The bytes of the first read of the window arrived before it started: they only mark its start.
            if (first == 0)
            {
                first = now;
            }
            else
            {
                bytes += read;
            }

            last = now;
        }

        await stopSending.CancelAsync();
        socket.Close(0);
        await sender;
        return last > first ? bytes * (double)Stopwatch.Frequency / (last - first) : double.NaN;
    }

    private static async Task SendAsync(Socket socket, byte[] chunk, CancellationToken cancel)
    {
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                await socket.SendAsync(chunk, SocketFlags.None, cancel);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The end of the case: the socket was closed under a pending send.
        }
    }
}
