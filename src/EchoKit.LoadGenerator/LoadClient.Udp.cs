using System.Diagnostics;
using System.Net.Sockets;
using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

public static partial class LoadClient
{
    /// <summary>
    /// Opens <see cref="UdpEchoLoadOptions.Flows"/> connected UDP sockets and keeps
    /// <see cref="UdpEchoLoadOptions.MessagesInFlight"/> datagrams in flight on each for the warm-up and then the
    /// measured duration; then waits up to <see cref="UdpEchoLoadOptions.LossTimeout"/> for the echoes still out,
    /// and reports. Every echo is matched to its datagram by sequence number and verified byte for byte; a datagram
    /// not echoed in time is lost, which is not an error. A flow fails (an error) when its socket does, for example
    /// when nothing listens on the target port (ICMP port unreachable); the run ends early when every flow failed.
    /// </summary>
    /// <param name="options">The load.</param>
    /// <param name="cancellationToken">Ends the run early (the result is then not returned).</param>
    /// <returns>What was measured.</returns>
    public static async Task<UdpEchoLoadResult> RunUdpEchoAsync(UdpEchoLoadOptions options, CancellationToken cancellationToken = default)
    {
        var (pattern, run) = Begin(options);
        var live = LiveLoadCounters.AttachTo(options.Progress, options.MessageSize);
        var openErrors = live.OpenErrors;
        var flows = new List<UdpLoadFlow>(options.Flows);
        var flowNumbers = new List<int>(options.Flows);
        var failedFlows = 0;
        var allFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < options.Flows; i++)
        {
            if (OpenUdpSocket(options, i, openErrors) is { } socket)
            {
                flows.Add(new UdpLoadFlow(socket, i, options.EndPoint, run, pattern, options.MessagesInFlight, OnFlowFailed));
                flowNumbers.Add(i);
            }
        }

        live.SetStreams(flows);
        var elapsed = TimeSpan.Zero;
        if (flows.Count > 0)
        {
            var tasks = flows.Select(f => Task.Run(f.RunAsync, CancellationToken.None)).ToArray();
            using var stopSweeping = new CancellationTokenSource();
            var sweeper = SweepLostAsync(flows, options.LossTimeout, stopSweeping.Token);
            try
            {
                elapsed = await run.MeasureAsync(options, allFailed.Task, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                run.Stop(flows);
                if (!cancellationToken.IsCancellationRequested)
                {
                    // Twice the timeout: a flow whose receive loop lags gets that long (UdpLoadFlow.ExpireLost).
                    await SettleAsync(flows, options.LossTimeout * 2 + SweepInterval(options.LossTimeout) * 2 + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                }

                await stopSweeping.CancelAsync().ConfigureAwait(false);
                await sweeper.ConfigureAwait(false);
                foreach (var flow in flows)
                {
                    flow.Close();
                }

                await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            }
        }

        var tally = new LoadTally();
        var messages = tally.AddStreams(openErrors, flows, i => $"flow {flowNumbers[i]}");
        return new UdpEchoLoadResult(elapsed, tally, messages, options.MessageSize)
        {
            FlowsOpened = flows.Count,
            DatagramsSent = flows.Sum(f => f.SentSoFar),
            DatagramsLost = flows.Sum(f => f.LostSoFar),
            OutOfWindow = flows.Sum(f => f.OutOfWindow),
        };

        void OnFlowFailed()
        {
            if (Interlocked.Increment(ref failedFlows) == flows.Count)
            {
                allFailed.TrySetResult();
            }
        }
    }

    private static Socket? OpenUdpSocket(UdpEchoLoadOptions options, int index, ErrorCollector errors)
    {
        var socket = new Socket(options.EndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Room in the kernel for every echo in flight, so the client's own buffer is not where datagrams get lost
            // (the kernel caps this at net.core.rmem_max).
            var wanted = (int)Math.Min(8L * 1024 * 1024, 2L * options.MessagesInFlight * (options.MessageSize + 256));
            if (wanted > socket.ReceiveBufferSize)
            {
                socket.ReceiveBufferSize = wanted;
            }

            if (options.SourceFor(index) is { } source)
            {
                socket.Bind(new System.Net.IPEndPoint(source, 0));
            }

            socket.Connect(options.EndPoint);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            errors.Add($"flow {index}: cannot open a UDP socket to {options.EndPoint}: {LoopbackSocket.Describe(ex)}");
            return null;
        }
    }

    /// <summary>How often the sweeper looks for lost datagrams: a loss is declared within 1/8 of the timeout after it is due.</summary>
    private static TimeSpan SweepInterval(TimeSpan lossTimeout) =>
        TimeSpan.FromTicks(Math.Clamp(lossTimeout.Ticks / 8, TimeSpan.TicksPerMillisecond, 100 * TimeSpan.TicksPerMillisecond));

    private static async Task SweepLostAsync(List<UdpLoadFlow> flows, TimeSpan lossTimeout, CancellationToken stop)
    {
        var timeoutTicks = (long)(lossTimeout.TotalSeconds * Stopwatch.Frequency);
        using var timer = new PeriodicTimer(SweepInterval(lossTimeout));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                foreach (var flow in flows)
                {
                    flow.ExpireLost(now, timeoutTicks);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    /// <summary>Waits until every flow's datagrams are echoed or declared lost, at most <paramref name="limit"/>.</summary>
    private static async Task SettleAsync(List<UdpLoadFlow> flows, TimeSpan limit)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (!flows.TrueForAll(f => f.Settled) && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
