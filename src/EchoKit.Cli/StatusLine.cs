using System.Diagnostics;

namespace EchoKit.Cli;

/// <summary>
/// <c>serve</c>'s status line: the counters (uptime, connections, rates over the last interval) and, when faults can be
/// in force, the rules: <c>faults: latency:delay=50ms; reset:after=2s</c> or <c>faults: none</c>. Shown through a
/// <see cref="LiveLine"/>.
/// </summary>
internal static class StatusLine
{
    /// <summary>
    /// The most of the rules shown, so a long list does not turn a log line into a paragraph; <c>GET /faults</c>
    /// has them all.
    /// </summary>
    public const int MaxFaultsLength = 160;

    /// <summary>The ellipsis that ends what was cut.</summary>
    public const char Ellipsis = '…';

    /// <summary>The default interval: 1 s on a terminal, 10 s in a log.</summary>
    public static TimeSpan DefaultInterval(bool interactive) => TimeSpan.FromSeconds(interactive ? 1 : 10);

    /// <summary>
    /// Updates the status line every <paramref name="interval"/> with rates over that interval and, with
    /// <paramref name="faultsChanged"/>, the rules in force: redrawn as soon as they change (<see cref="Wake"/>), not
    /// at the next tick. Returns when <paramref name="stop"/> is cancelled.
    /// </summary>
    public static async Task ShowAsync(EchoServer server, LiveLine live, TimeSpan interval, SemaphoreSlim? faultsChanged, int width, CancellationToken stop)
    {
        var hasUdp = server.Listeners.Any(l => l.Transport == EchoTransport.Udp);
        var hasTls = server.Listeners.Any(l => l.Transport == EchoTransport.Tls);
        var started = Stopwatch.GetTimestamp();
        var previous = server.GetStatistics();
        var previousAt = started;
        string? counters = null;
        using var timer = new PeriodicTimer(interval);
        Task<bool>? tick = null;
        Task? woken = null;
        try
        {
            while (true)
            {
                tick ??= timer.WaitForNextTickAsync(stop).AsTask();
                woken ??= faultsChanged?.WaitAsync(stop) ?? Task.Delay(Timeout.InfiniteTimeSpan, stop);
                if (await Task.WhenAny(tick, woken).ConfigureAwait(false) == woken)
                {
                    await woken.ConfigureAwait(false);
                    woken = null;
                    if (counters is not null)
                    {
                        // The counters of the last tick, the new rules: rates over a few milliseconds would mislead.
                        live.Update(Compose(counters, server.Faults.Rules, live.Interactive, width));
                        continue;
                    }
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
                var current = server.GetStatistics();
                var seconds = Math.Max(Stopwatch.GetElapsedTime(previousAt, now).TotalSeconds, 1e-3);
                counters = Counters(Stopwatch.GetElapsedTime(started, now), current, previous, seconds, hasUdp, hasTls);
                live.Update(faultsChanged is null ? counters : Compose(counters, server.Faults.Rules, live.Interactive, width));
                previous = current;
                previousAt = now;
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Lets <see cref="ShowAsync"/> redraw at once; one pending wake is enough however many changes come.</summary>
    public static void Wake(SemaphoreSlim faultsChanged)
    {
        try
        {
            if (faultsChanged.CurrentCount == 0)
            {
                faultsChanged.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another change woke it first.
        }
        catch (ObjectDisposedException)
        {
            // Serving is over.
        }
    }

    /// <summary>
    /// <c>up 0:01:02 | 3 connections | 12 accepted/s | 0 rejected | in 1.00 MiB/s | out 1.00 MiB/s</c>, then UDP's
    /// and TLS's counters when the server listens on them: rates over the <paramref name="seconds"/> since <paramref name="previous"/>.
    /// </summary>
    public static string Counters(TimeSpan uptime, EchoServerStatistics current, EchoServerStatistics previous, double seconds, bool hasUdp, bool hasTls)
    {
        var line = $"up {Formatting.Uptime(uptime)} | {Formatting.Count(current.ActiveConnections)} connections" +
            $" | {Formatting.Rate((current.AcceptedConnections - previous.AcceptedConnections) / seconds)} accepted/s" +
            $" | {Formatting.Count(current.RejectedConnections)} rejected" +
            $" | in {Formatting.MiBPerSecond((current.BytesReceived - previous.BytesReceived) / seconds)}" +
            $" | out {Formatting.MiBPerSecond((current.BytesSent - previous.BytesSent) / seconds)}";
        if (hasUdp)
        {
            line += $" | udp {Formatting.Rate((current.DatagramsReceived - previous.DatagramsReceived) / seconds)} msgs/s" +
                $", {Formatting.Count(current.DatagramsDropped)} dropped";
        }

        if (hasTls)
        {
            line += $" | {Formatting.Count(current.TlsHandshakeFailures)} TLS handshake failures";
        }

        return line;
    }

    /// <summary><c>faults: none</c>, or the rules' texts separated by <c>; </c>, cut at <see cref="MaxFaultsLength"/>.</summary>
    public static string Faults(IReadOnlyList<EchoFault> rules)
    {
        var text = "faults: " + (rules.Count == 0 ? "none" : string.Join("; ", rules.Select(r => r.ToString())));
        return Cut(text, MaxFaultsLength);
    }

    /// <summary>
    /// <paramref name="counters"/> then the rules. On a terminal of known <paramref name="width"/> the line is cut to
    /// fit with an ellipsis here, rather than cut bare by <see cref="LiveLine"/>, so a cut list of rules reads as one.
    /// </summary>
    public static string Compose(string counters, IReadOnlyList<EchoFault> rules, bool interactive, int width)
    {
        var line = $"{counters} | {Faults(rules)}";
        return interactive && width > 1 ? Cut(line, width - 1) : line;
    }

    /// <summary><paramref name="text"/>, or its first <paramref name="length"/> - 1 characters and an ellipsis.</summary>
    public static string Cut(string text, int length) =>
        text.Length <= length ? text : string.Concat(text.AsSpan(0, Math.Max(0, length - 1)), Ellipsis.ToString());
}
