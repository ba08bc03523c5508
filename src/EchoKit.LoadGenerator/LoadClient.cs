using System.Diagnostics;
using System.Net.Sockets;
using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

/// <summary>
/// Load modes against an RFC 862 echo server: pipelined echo (<see cref="RunEchoAsync"/>), UDP echo
/// (<see cref="RunUdpEchoAsync"/>), connection churn
/// (<see cref="RunChurnAsync"/>), many idle connections (<see cref="OpenIdleAsync"/>) and clients that send but
/// never read (<see cref="RunNoReadAsync"/>). Every mode is bounded in time and verifies every echoed byte.
/// </summary>
public static partial class LoadClient
{
    /// <summary>
    /// Opens <see cref="EchoLoadOptions.Connections"/> connections, keeps <see cref="EchoLoadOptions.MessagesInFlight"/>
    /// messages in flight on each for the warm-up and then the measured duration, drains, and reports.
    /// </summary>
    /// <param name="options">The load.</param>
    /// <param name="cancellationToken">Ends the run early (the result is then not returned).</param>
    /// <returns>What was measured.</returns>
    public static async Task<EchoLoadResult> RunEchoAsync(EchoLoadOptions options, CancellationToken cancellationToken = default)
    {
        var (pattern, run) = Begin(options);
        var sockets = new Socket?[options.Connections];
        var greetings = new System.Collections.Concurrent.ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var live = LiveLoadCounters.AttachTo(options.Progress, options.MessageSize);
        var connectErrors = live.OpenErrors;
        await LoopbackSocket.ForEachAsync(options.Connections, options.ConnectConcurrency, async i =>
        {
            try
            {
                sockets[i] = await OpenAsync(i).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                connectErrors.Add("connect failed: " + LoopbackSocket.Describe(ex));
            }
            catch (IOException ex)
            {
                connectErrors.Add($"connection {i}: {ex.Message}");
            }
        }).ConfigureAwait(false);

        var connections = new List<EchoLoadConnection>(options.Connections);
        var perConnectionRate = options.MessagesPerSecond / options.Connections;
        for (var i = 0; i < sockets.Length; i++)
        {
            if (sockets[i] is { } socket)
            {
                var slot = i;
                connections.Add(new EchoLoadConnection(
                    socket, i, run, pattern, options.MessagesInFlight,
                    options.Reconnect ? () => OpenAsync(slot) : null, perConnectionRate, phase: (double)i / options.Connections));
            }
        }

        live.SetStreams(connections);

        var elapsed = TimeSpan.Zero;
        try
        {
            if (connections.Count > 0)
            {
                var tasks = connections.Select(c => Task.Run(c.RunAsync)).ToArray();
                try
                {
                    elapsed = await run.MeasureAsync(options, endEarly: null, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    run.Stop(connections);
                    await DrainAsync(tasks, connections, options.DrainTimeout).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }

            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }

        var tally = new LoadTally();
        var messages = tally.AddStreams(connectErrors, connections, i => $"connection {i}");
        return new EchoLoadResult(elapsed, tally, messages, options.MessageSize)
        {
            ConnectionsOpened = connections.Count,
            Greetings = greetings.ToDictionary(StringComparer.Ordinal),
            FailedEchoes = connections.Sum(c => c.FailedEchoes),
            Reconnections = connections.Sum(c => c.Reconnections),
            FailedConnects = connections.Sum(c => c.FailedConnects),
        };

        // Connects (with the PROXY header and the greeting when asked for): the first time and at each reconnection.
        async ValueTask<Socket> OpenAsync(int i)
        {
            var socket = await LoopbackSocket.ConnectAsync(options.EndPoint, options.SourceFor(i), options.ConnectTimeout).ConfigureAwait(false);
            try
            {
                if (options.ProxyHeader != ProxyHeaderVersion.None || options.ReadGreeting)
                {
                    if (await ConnectionPrologue.RunAsync(socket, options).ConfigureAwait(false) is { } greeting)
                    {
                        greetings.AddOrUpdate(greeting, 1, static (_, n) => n + 1);
                    }
                }

                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Runs <see cref="ChurnOptions.Concurrency"/> workers that each connect, echo one message, verify it and close,
    /// again and again, for the warm-up and then the measured duration.
    /// </summary>
    /// <param name="options">The load.</param>
    /// <param name="cancellationToken">Ends the run early.</param>
    /// <returns>What was measured.</returns>
    public static async Task<ChurnResult> RunChurnAsync(ChurnOptions options, CancellationToken cancellationToken = default)
    {
        var (pattern, run) = Begin(options);
        using var abort = new CancellationTokenSource();
        var workers = new ChurnWorker[options.Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = new ChurnWorker(i, options, pattern, run, abort.Token);
        }

        var tasks = workers.Select(w => Task.Run(w.RunAsync)).ToArray();
        var elapsed = TimeSpan.Zero;
        try
        {
            elapsed = await run.MeasureAsync(options, endEarly: null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            run.Stop();
            var all = Task.WhenAll(tasks);
            if (await Task.WhenAny(all, Task.Delay(options.ConnectTimeout + TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false) != all)
            {
                await abort.CancelAsync().ConfigureAwait(false);
                await all.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            }
        }

        var tally = new LoadTally();
        long completed = 0;
        foreach (var worker in workers)
        {
            tally.Add(worker.Histogram, worker.Verified, worker.Mismatches);
            tally.AddErrors(worker.Errors, worker.FirstError);
            completed += worker.Completed;
        }

        return new ChurnResult(elapsed, tally) { Connections = completed };
    }

    /// <summary>
    /// Opens <see cref="IdleOptions.Connections"/> connections and echoes one message on each, so every one is
    /// known to be served; they then stay open and idle until the returned set is disposed.
    /// </summary>
    /// <param name="options">How many, and where.</param>
    /// <param name="cancellationToken">Cancels the opening.</param>
    /// <returns>The open connections; dispose to close them.</returns>
    public static async Task<IdleConnectionSet> OpenIdleAsync(IdleOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var set = new IdleConnectionSet(options);
        try
        {
            await set.OpenAsync(cancellationToken).ConfigureAwait(false);
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens <see cref="NoReadOptions.Connections"/> connections that each send up to
    /// <see cref="NoReadOptions.BytesPerConnection"/> bytes and never read the echo, for at most
    /// <see cref="NoReadOptions.Duration"/>; then closes them (with a reset, since echoed data is left unread).
    /// </summary>
    /// <param name="options">The load.</param>
    /// <param name="cancellationToken">Ends the run early.</param>
    /// <returns>What the clients managed to send.</returns>
    public static async Task<NoReadResult> RunNoReadAsync(NoReadOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sockets = new Socket?[options.Connections];
        var errors = new ErrorCollector();
        await LoopbackSocket.ForEachAsync(options.Connections, options.ConnectConcurrency, async i =>
        {
            try
            {
                sockets[i] = await LoopbackSocket.ConnectAsync(options.EndPoint, options.SourceFor(i), options.ConnectTimeout, options.ClientReceiveBufferSize).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                errors.Add("connect failed: " + LoopbackSocket.Describe(ex));
            }
        }).ConfigureAwait(false);

        var data = new byte[64 * 1024];
        new MessagePattern(data.Length).Write(0, 0, data);
        long totalSent = 0;
        var completed = 0;
        using var stop = new CancellationTokenSource();
        var start = Stopwatch.GetTimestamp();
        var elapsed = TimeSpan.Zero;
        var tasks = new List<Task>(sockets.Length);
        foreach (var socket in sockets)
        {
            if (socket is not null)
            {
                tasks.Add(Task.Run(() => SendAsync(socket), CancellationToken.None));
            }
        }

        try
        {
            var all = Task.WhenAll(tasks);
            await Task.WhenAny(all, Task.Delay(options.Duration, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            elapsed = Stopwatch.GetElapsedTime(start);
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }

            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return new NoReadResult
        {
            ConnectionsOpened = tasks.Count,
            BytesSent = Interlocked.Read(ref totalSent),
            ConnectionsCompleted = completed,
            Errors = errors.Count,
            FirstError = errors.First,
            Elapsed = elapsed,
        };

        async Task SendAsync(Socket socket)
        {
            long sent = 0;
            try
            {
                while (sent < options.BytesPerConnection && !stop.IsCancellationRequested)
                {
                    var chunk = (int)Math.Min(data.Length, options.BytesPerConnection - sent);
                    var n = await socket.SendAsync(data.AsMemory(0, chunk), SocketFlags.None, stop.Token).ConfigureAwait(false);
                    sent += n;
                    Interlocked.Add(ref totalSent, n);
                }

                if (sent >= options.BytesPerConnection)
                {
                    Interlocked.Increment(ref completed);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (!stop.IsCancellationRequested)
                {
                    errors.Add("send failed: " + LoopbackSocket.Describe(ex));
                }
            }
        }
    }

    /// <summary>What every timed load starts with: its options checked, its messages, its run.</summary>
    private static (MessagePattern Pattern, EchoRunState Run) Begin(TimedLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return (new MessagePattern(options.MessageSize), new EchoRunState());
    }

    private static async Task DrainAsync(Task[] tasks, List<EchoLoadConnection> connections, TimeSpan drainTimeout)
    {
        var all = Task.WhenAll(tasks);
        if (await Task.WhenAny(all, Task.Delay(drainTimeout, CancellationToken.None)).ConfigureAwait(false) == all)
        {
            return;
        }

        for (var i = 0; i < tasks.Length; i++)
        {
            if (!tasks[i].IsCompleted)
            {
                connections[i].Fail($"the echoes still in flight did not all arrive within {drainTimeout.TotalSeconds:0.#} s after the run");
            }
        }

        await all.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
    }
}
