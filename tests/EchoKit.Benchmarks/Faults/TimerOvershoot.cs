using System.Diagnostics;

namespace EchoKit.Benchmarks.Faults;

/// <summary>One timer experiment: how late <see cref="Timer"/> wakes after the time it was armed for.</summary>
internal sealed record TimerResult(string Case, int Timers, double DelayMs, int Wakes, double MinMs, double P50Ms, double P90Ms, double P99Ms, double MaxMs, double MeanMs, double CpuMicrosecondsPerWake, double CallbacksPerWake);

/// <summary>
/// A standalone experiment, no server: timers armed the way <c>ConnectionFaults.Arm</c> does (due = now + delay in
/// <see cref="Stopwatch"/> ticks, milliseconds rounded up, one-shot), re-armed from their own callback; the
/// overshoot is the callback's time minus the due time. It tells how much of the latency rule's error is the
/// timer's, on this machine. Two more rows: the step of <see cref="Environment.TickCount64"/> (the clock the timer
/// queue schedules by on Unix), and the alternative of one dedicated thread that waits on a monitor for all due times
/// (precise clock), spins the last 1 ms, and hands each wake-up to the thread pool as the pump's resume would be.
/// </summary>
internal static class TimerOvershoot
{
    /// <summary>Wakes kept per timer: a bound whatever the delay.</summary>
    private const int MaxWakesPerTimer = 10_000;

    public static async Task<List<TimerResult>> RunAsync()
    {
        var results = new List<TimerResult>();
        foreach (var (timers, delayMs, jitterMs, rearm) in new[] { (1, 50.0, 0.0, false), (1, 2.0, 0.0, false), (100, 50.0, 0.0, false), (100, 50.0, 0.0, true), (100, 50.0, 10.0, true) })
        {
            var name = $"Timer: {timers} timer(s), {delayMs}{(jitterMs > 0 ? $" ± {jitterMs}" : "")} ms{(rearm ? ", re-armed when early (as ConnectionFaults.OnTimer)" : "")}";
            Console.Error.WriteLine($"timer: {name}");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var (overshoot, callbacks) = await MeasureAsync(timers, delayMs, jitterMs, rearm, TimeSpan.FromSeconds(2));
            results.Add(Result(name, timers, delayMs, overshoot, Process.GetCurrentProcess().TotalProcessorTime - cpu, callbacks));
        }

        foreach (var spin in new[] { false, true })
        {
            var name = spin ? "dedicated thread, wait to due − 1 ms then spin" : "dedicated thread, wait (ms rounded up), no spin";
            Console.Error.WriteLine($"timer: {name}");
            var before = Process.GetCurrentProcess().TotalProcessorTime;
            var precise = await DedicatedThread.MeasureAsync(100, 50, TimeSpan.FromSeconds(2), spin);
            results.Add(Result($"{name}: 100 due times, 50 ms", 100, 50, precise, Process.GetCurrentProcess().TotalProcessorTime - before, precise.Count));
        }

        results.Add(TickCountStep());
        return results;
    }

    private static TimerResult Result(string name, int timers, double delayMs, List<double> overshoot, TimeSpan cpu, long callbacks)
    {
        var d = new Distribution(overshoot);
        return new TimerResult(name, timers, delayMs, d.Count, Math.Round(d.Min, 3), Math.Round(d.P50, 3), Math.Round(d.P90, 3), Math.Round(d.P99, 3), Math.Round(d.Max, 3),
            Math.Round(d.Mean, 3), d.Count == 0 ? double.NaN : Math.Round(cpu.TotalMicroseconds / d.Count, 1),
            d.Count == 0 ? double.NaN : Math.Round((double)callbacks / d.Count, 2));
    }

    /// <summary>The steps of <see cref="Environment.TickCount64"/> over 300 ms: its resolution here (CLOCK_MONOTONIC_COARSE on Linux).</summary>
    private static TimerResult TickCountStep()
    {
        var steps = new List<double>();
        var end = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3 / 10;
        var previous = Environment.TickCount64;
        while (Stopwatch.GetTimestamp() < end && steps.Count < 10_000)
        {
            var now = Environment.TickCount64;
            if (now != previous)
            {
                steps.Add(now - previous);
                previous = now;
            }
        }

        var d = new Distribution(steps);
        return new TimerResult("Environment.TickCount64 step (not an overshoot)", 0, 0, d.Count, d.Min, d.P50, d.P90, d.P99, d.Max, Math.Round(d.Mean, 3), double.NaN, double.NaN);
    }

    private static async Task<(List<double> Overshoot, long Callbacks)> MeasureAsync(int count, double delayMs, double jitterMs, bool rearmIfEarly, TimeSpan duration)
    {
        var delay = (long)Math.Ceiling(delayMs * Stopwatch.Frequency / 1000);
        var jitter = (long)Math.Ceiling(jitterMs * Stopwatch.Frequency / 1000);
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var probes = new List<Probe>();
        var stagger = new Random(3);
        for (var i = 0; i < count; i++)
        {
            var probe = new Probe(delay, jitter, rearmIfEarly, end, i);
            probes.Add(probe);
            probe.Start(TimeSpan.FromMilliseconds(stagger.NextDouble() * delayMs));
        }

        await Task.Delay(duration + TimeSpan.FromMilliseconds(delayMs * 2 + 100));
        foreach (var probe in probes)
        {
            probe.Dispose();
        }

        return ([.. probes.SelectMany(p => p.Snapshot())], probes.Sum(p => p.Callbacks));
    }

    private sealed class Probe : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly long _delay;
        private readonly long _jitter;
        private readonly bool _rearmIfEarly;
        private readonly Random _random;
        private readonly long _end;
        private readonly Timer _timer;
        private long _due;
        private long _callbacks;

        public Probe(long delay, long jitter, bool rearmIfEarly, long end, int seed)
        {
            _delay = delay;
            _jitter = jitter;
            _rearmIfEarly = rearmIfEarly;
            _random = new Random(seed);
            _end = end;
            _timer = new Timer(static s => ((Probe)s!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
        }

        private List<double> Overshoot { get; } = [];

        public long Callbacks
        {
            get
            {
                lock (_gate)
                {
                    return _callbacks;
                }
            }
        }

        public double[] Snapshot()
        {
            lock (_gate)
            {
                return [.. Overshoot];
            }
        }

        public void Start(TimeSpan offset) => _timer.Change(offset, Timeout.InfiniteTimeSpan);

        public void Dispose() => _timer.Dispose();

        private void OnTimer()
        {
            lock (_gate)
            {
                var now = Stopwatch.GetTimestamp();
                if (_due != 0)
                {
                    _callbacks++;
                    if (_rearmIfEarly && now < _due)
                    {
                        // ConnectionFaults.OnTimer finds the wake-up not yet due and arms again for the rest, rounded up.
                        _timer.Change((long)Math.Ceiling((_due - now) * 1000.0 / Stopwatch.Frequency), Timeout.Infinite);
                        return;
                    }

                    Overshoot.Add(Distribution.ToMilliseconds(now - _due));
                }

                if (now >= _end || Overshoot.Count >= MaxWakesPerTimer)
                {
                    return;
                }

                // As ConnectionFaults.Arm: the due time in ticks, the timer's milliseconds rounded up so it never fires early.
                _due = now + _delay + (_jitter == 0 ? 0 : (long)((_random.NextDouble() * 2 - 1) * _jitter));
                var milliseconds = (long)Math.Ceiling((_due - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency);
                _timer.Change(milliseconds, Timeout.Infinite);
            }
        }
    }
}
