using System.Diagnostics;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit proxy</c>'s status line: <c>up 0:01:02 | 2 proxies | 3 connections | in 1.00 MiB/s | out 1.00 MiB/s</c>,
/// and with one proxy its rules (<c>faults: latency:delay=50ms,stream=upstream</c>). Redrawn at once when the API
/// changes something (<see cref="StatusLine.Wake"/>).
/// </summary>
internal static class ProxyStatusLine
{
    /// <summary>Updates the line every <paramref name="interval"/> or when <paramref name="changed"/> is released, until <paramref name="stop"/>.</summary>
    public static async Task ShowAsync(ToxiproxyRegistry registry, LiveLine live, TimeSpan interval, SemaphoreSlim changed, int width, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        var previous = Totals(registry);
        var previousAt = started;
        using var timer = new PeriodicTimer(interval);
        Task<bool>? tick = null;
        Task? woken = null;
        try
        {
            // Bounded by stop: both waits end when it is cancelled.
            while (!stop.IsCancellationRequested)
            {
                tick ??= timer.WaitForNextTickAsync(stop).AsTask();
                woken ??= changed.WaitAsync(stop);
                if (await Task.WhenAny(tick, woken).ConfigureAwait(false) == woken)
                {
                    await woken.ConfigureAwait(false);
                    woken = null;
                }
                else if (!await tick.ConfigureAwait(false))
                {
                    break;
                }
                else
                {
                    tick = null;
                }

                var now = Stopwatch.GetTimestamp();
                var current = Totals(registry);
                var seconds = Math.Max(Stopwatch.GetElapsedTime(previousAt, now).TotalSeconds, 1e-3);
                var line = Compose(Stopwatch.GetElapsedTime(started, now), registry.Snapshot(), current, previous, seconds);
                live.Update(live.Interactive && width > 1 ? StatusLine.Cut(line, width - 1) : line);
                (previous, previousAt) = (current, now);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>The line for <paramref name="running"/>, with rates since <paramref name="previous"/>.</summary>
    public static string Compose(TimeSpan uptime, IReadOnlyList<(string Name, FaultProxy Proxy)> running, Totals current, Totals previous, double seconds)
    {
        // A proxy re-enabled starts its counters again: a rate never goes below zero for it.
        var line = $"up {Formatting.Uptime(uptime)} | {Formatting.Count(running.Count)} {(running.Count == 1 ? "proxy" : "proxies")} enabled" +
            $" | {Formatting.Count(current.Active)} connections" +
            $" | in {Formatting.MiBPerSecond(Math.Max(0, current.In - previous.In) / seconds)}" +
            $" | out {Formatting.MiBPerSecond(Math.Max(0, current.Out - previous.Out) / seconds)}";
        return running.Count == 1 ? $"{line} | {StatusLine.Faults(running[0].Proxy.Faults.Rules)}" : line;
    }

    /// <summary>The running proxies' counters added up.</summary>
    public static Totals Totals(ToxiproxyRegistry registry)
    {
        var totals = new Totals(0, 0, 0);
        foreach (var (_, proxy) in registry.Snapshot())
        {
            var statistics = proxy.GetStatistics();
            totals = new Totals(totals.Active + statistics.ActiveConnections, totals.In + statistics.BytesReceived, totals.Out + statistics.BytesSent);
        }

        return totals;
    }
}

/// <summary>Counters of all running proxies: connections open, bytes from clients, bytes to clients.</summary>
internal readonly record struct Totals(long Active, long In, long Out);
