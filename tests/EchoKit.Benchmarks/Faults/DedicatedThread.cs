using System.Diagnostics;

namespace EchoKit.Benchmarks.Faults;

/// <summary>
/// The alternative to one <see cref="Timer"/> per connection that <see cref="TimerOvershoot"/> measures: one thread
/// keeps every due time in a priority queue, waits on a monitor (whose timeout uses the precise monotonic clock, not
/// the 4 ms tick) until 1 ms before the earliest and spins the rest (or, without spinning, until the due time
/// rounded up to the millisecond, the wait's unit, so never early), and queues each due item to the thread pool. The
/// overshoot is taken where the pump would resume: in the thread-pool work item.
/// </summary>
internal static class DedicatedThread
{
    private const int MaxWakes = 100_000;

    public static async Task<List<double>> MeasureAsync(int count, double delayMs, TimeSpan duration, bool spin)
    {
        var gate = new object();
        var queue = new PriorityQueue<int, long>();
        var overshoot = new List<double>();
        var delay = (long)Math.Ceiling(delayMs * Stopwatch.Frequency / 1000);
        var early = spin ? Stopwatch.Frequency / 1000 : 0;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var stagger = new Random(3);
        for (var i = 0; i < count; i++)
        {
            queue.Enqueue(i, start + (long)(stagger.NextDouble() * delay));
        }

        var thread = new Thread(() =>
        {
            while (true)
            {
                long due;
                lock (gate)
                {
                    if (!queue.TryPeek(out _, out due) || Stopwatch.GetTimestamp() >= end || overshoot.Count >= MaxWakes)
                    {
                        return;
                    }

                    var wait = due - early - Stopwatch.GetTimestamp();
                    if (wait > 0)
                    {
                        // A new earlier due time would pulse the monitor; here none comes, so this is a plain wait.
                        var milliseconds = Distribution.ToMilliseconds(wait);
                        Monitor.Wait(gate, TimeSpan.FromMilliseconds(Math.Max(1, spin ? Math.Floor(milliseconds) : Math.Ceiling(milliseconds))));
                        continue;
                    }

                    queue.Dequeue();
                }

                while (spin && Stopwatch.GetTimestamp() < due)
                {
                    Thread.SpinWait(20);
                }

                ThreadPool.UnsafeQueueUserWorkItem(_ =>
                {
                    lock (gate)
                    {
                        var now = Stopwatch.GetTimestamp();
                        overshoot.Add(Distribution.ToMilliseconds(now - due));
                        queue.Enqueue(0, now + delay);
                    }
                }, null);
            }
        })
        { IsBackground = true, Name = "fault clock (experiment)" };
        thread.Start();
        await Task.Delay(duration + TimeSpan.FromMilliseconds(200));
        thread.Join(TimeSpan.FromSeconds(5));
        lock (gate)
        {
            return [.. overshoot];
        }
    }
}
