using System.Diagnostics;
using System.Globalization;
using EchoKit.LoadGenerator;

namespace EchoKit.Cli;

/// <summary>
/// The progress display of <c>echokit bench</c> on standard error: the phase, the time left and the live counters
/// of the load client (<see cref="LoadProgress"/>): messages per second and MiB/s over the last interval, messages
/// echoed so far, errors, and lost datagrams for UDP. On a terminal one line is redrawn every interval; otherwise a
/// plain line is printed at each phase and every interval while warming up and measuring.
/// </summary>
internal sealed class BenchProgress(LiveLine line, BenchSettings settings, LoadProgress counters, TimeSpan interval)
{
    private const int BarWidth = 20;
    private volatile int _phase;
    private long _measureStarted;

    private enum Phase
    {
        WarmingUp,
        Measuring,
        Draining,
    }

    /// <summary>The default interval: 250 ms on a terminal, 5 s in a log.</summary>
    public static TimeSpan DefaultInterval(bool interactive) => interactive ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(5);

    /// <summary>Called by the load client when the measurement window opens.</summary>
    public void MeasurementStarted()
    {
        Volatile.Write(ref _measureStarted, Stopwatch.GetTimestamp());
        _phase = (int)Phase.Measuring;
    }

    /// <summary>Called by the load client when the measurement window closes.</summary>
    public void MeasurementEnded() => _phase = (int)Phase.Draining;

    public async Task RunAsync(CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        var shown = (Phase)(-1);
        var rateFrom = new Sample(started, 0);
        var lastPlain = started;

        // A terminal is redrawn every interval; for a log, poll often enough to print each phase change promptly.
        using var timer = new PeriodicTimer(line.Interactive ? interval : TimeSpan.FromMilliseconds(Math.Min(100, interval.TotalMilliseconds)));
        try
        {
            do
            {
                var phase = (Phase)_phase;
                var now = new Sample(Stopwatch.GetTimestamp(), counters.Messages);
                if (line.Interactive)
                {
                    line.Update(Interactive(phase, now, started, rateFrom));
                    rateFrom = now;
                }
                else if (phase != shown)
                {
                    line.Update(PhaseStarted(phase));
                    rateFrom = now;
                    lastPlain = now.Timestamp;
                }
                else if (phase != Phase.Draining && Stopwatch.GetElapsedTime(lastPlain, now.Timestamp) >= interval)
                {
                    var name = phase == Phase.Measuring ? "measuring" : "warming up";
                    line.Update($"bench: {name}, {TimeDone(phase, now.Timestamp, started, rounded: true)}: {Counters(now, rateFrom, ", ")}");
                    rateFrom = now;
                    lastPlain = now.Timestamp;
                }

                shown = phase;
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private string Interactive(Phase phase, Sample now, long started, Sample rateFrom)
    {
        var status = phase switch
        {
            Phase.Measuring => $"measuring [{Bar(Measured(now.Timestamp))}] {TimeDone(phase, now.Timestamp, started, rounded: false)}",
            Phase.WarmingUp => $"warming up {TimeDone(phase, now.Timestamp, started, rounded: false)}",
            _ => Draining(),
        };
        return $"{status} | {Counters(now, rateFrom, " | ")}";
    }

    private string PhaseStarted(Phase phase) => phase switch
    {
        Phase.WarmingUp => $"bench: {(settings.Udp ? "opening" : "connecting")} {Formatting.Count(settings.Connections)} {(settings.Udp ? "UDP flow(s)" : "connection(s)")} to {settings.Target}" +
            (settings.Warmup > TimeSpan.Zero ? $", warming up for {Formatting.Seconds(settings.Warmup)}" : ""),
        Phase.Measuring => $"bench: measuring for {Formatting.Seconds(settings.Duration)}",
        _ => $"bench: {Draining()}",
    };

    private string Draining() => settings.Udp
        ? $"waiting up to {Formatting.Seconds(settings.LossTimeout)} for the datagrams still in flight"
        : "draining the echoes still in flight";

    /// <summary>How far the phase is: "0.5 s of 1 s".</summary>
    private string TimeDone(Phase phase, long now, long started, bool rounded)
    {
        var (elapsed, total) = phase == Phase.Measuring
            ? (Measured(now), settings.Duration)
            : (Min(Stopwatch.GetElapsedTime(started, now), settings.Warmup), settings.Warmup);
        if (rounded)
        {
            elapsed = TimeSpan.FromSeconds(Math.Round(elapsed.TotalSeconds, elapsed < TimeSpan.FromSeconds(10) ? 1 : 0));
        }

        return $"{Formatting.Seconds(elapsed)} of {Formatting.Seconds(total)}";
    }

    private string Counters(Sample now, Sample from, string separator)
    {
        var seconds = (now.Timestamp - from.Timestamp) / (double)Stopwatch.Frequency;
        var perSecond = seconds > 0 ? (now.Messages - from.Messages) / seconds : 0;
        var parts = new List<string>(5)
        {
            $"{Formatting.Count((long)perSecond)} msgs/s",
            Formatting.MiBPerSecond(perSecond * settings.MessageSize),
            $"{Formatting.Count(now.Messages)} echoed",
        };
        if (settings.Udp)
        {
            parts.Add($"{Formatting.Count(counters.Lost)} lost");
        }

        parts.Add($"{Formatting.Count(counters.Errors)} errors");
        return string.Join(separator, parts);
    }

    private TimeSpan Measured(long now) => Min(Stopwatch.GetElapsedTime(Volatile.Read(ref _measureStarted), now), settings.Duration);

    private string Bar(TimeSpan measured)
    {
        var filled = (int)Math.Round(measured / settings.Duration * BarWidth);
        return string.Create(CultureInfo.InvariantCulture, $"{new string('#', filled)}{new string('.', BarWidth - filled)}");
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private readonly record struct Sample(long Timestamp, long Messages);
}
