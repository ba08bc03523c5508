using System.Diagnostics;
using System.Runtime.InteropServices;

namespace EchoKit.Internal;

/// <summary>Something the <see cref="FaultClock"/> wakes: a stream connection's faults, or a UDP listener's held datagrams.</summary>
internal interface IFaultClockTarget
{
    /// <summary>
    /// Called on the clock's thread, never before the time it was scheduled for; <paramref name="token"/> is what was
    /// scheduled with it. It must be quick and must not block (a close, a flag, queueing a work item): every other
    /// wake-up of the process waits behind it.
    /// </summary>
    void OnClock(long token);
}

/// <summary>
/// The wake-ups of every fault in the process (latency, slice pauses, bandwidth, deadlines, held datagrams), on one
/// thread that waits on the precise clock. <see cref="Timer"/> cannot do this: on Linux the runtime's timer queue keeps
/// time with <see cref="Environment.TickCount64"/>, which steps in 4 ms here (the kernel's coarse clock), so wake-ups
/// landed on a 4 ms grid, 2–6 ms late at the 99th percentile (docs/FAULTS.md, accuracy). This thread waits whole
/// milliseconds on a monitor (woken early when an earlier wake-up is scheduled) and the last part of a millisecond
/// in a precise sleep, then calls what is due. A target does only quick, non-blocking work there (a close; a parked
/// pump's held echo, which is a non-blocking send and at most a few synchronous completions before the pump parks or
/// waits again, see <see cref="StreamConnection.ResumeAfterFault"/>) and hands anything slow, such as user event
/// handlers, to the thread pool, without allocating. It
/// starts at the first wake-up and is a background thread; a process without faults never has it. A wake-up that is
/// no longer wanted stays queued until its time and is then ignored by its target (tokens tell them apart).
/// </summary>
internal static class FaultClock
{
    private static readonly object Gate = new();
    private static readonly PriorityQueue<(IFaultClockTarget Target, long Token), long> Queue = new();
    private static readonly long TicksPerMillisecond = Stopwatch.Frequency / 1000;
    private static Thread? _thread;

    [ThreadStatic]
    private static bool _onClockThread;

    /// <summary>Whether the caller runs on the clock's thread (in a target's <see cref="IFaultClockTarget.OnClock"/>), where nothing slow may run.</summary>
    public static bool IsClockThread => _onClockThread;

    /// <summary>A fault's time in <see cref="Stopwatch"/> ticks, the clock's unit, rounded up.</summary>
    public static long Ticks(TimeSpan value) => (long)Math.Ceiling(value.Ticks * (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);

    /// <summary>Wakes <paramref name="target"/> with <paramref name="token"/> at <paramref name="due"/> (a <see cref="Stopwatch"/> timestamp) or just after.</summary>
    public static void Schedule(IFaultClockTarget target, long token, long due)
    {
        lock (Gate)
        {
            var earliest = !Queue.TryPeek(out _, out var first) || due < first;
            Queue.Enqueue((target, token), due);
            if (_thread is null)
            {
                // No execution context flows into the clock: it belongs to no caller.
                using (ExecutionContext.SuppressFlow())
                {
                    _thread = new Thread(Run) { IsBackground = true, Name = "EchoKit fault clock" };
                    _thread.Start();
                }
            }
            else if (earliest)
            {
                Monitor.Pulse(Gate);
            }
        }
    }

    private static void Run()
    {
        _onClockThread = true;
        var due = new List<(IFaultClockTarget Target, long Token)>();
        while (true)
        {
            var sleepTicks = 0L;
            lock (Gate)
            {
                while (sleepTicks == 0)
                {
                    if (!Queue.TryPeek(out _, out var next))
                    {
                        Monitor.Wait(Gate);
                        continue;
                    }

                    var now = Stopwatch.GetTimestamp();
                    var remaining = next - now;
                    if (remaining <= 0)
                    {
                        while (Queue.TryPeek(out var item, out var at) && at <= now)
                        {
                            Queue.Dequeue();
                            due.Add(item);
                        }

                        break;
                    }

                    if (remaining >= TicksPerMillisecond)
                    {
                        // Whole milliseconds, rounded down; a Pulse ends the wait when an earlier wake-up comes.
                        Monitor.Wait(Gate, (int)Math.Min(remaining / TicksPerMillisecond, int.MaxValue));
                        continue;
                    }

                    sleepTicks = remaining;
                }
            }

            if (sleepTicks > 0)
            {
                // Under a millisecond: out of the lock, so a Schedule is never held up by it.
                PreciseSleep(sleepTicks);
                continue;
            }

            foreach (var (target, token) in due)
            {
                try
                {
                    target.OnClock(token);
                }
                catch (Exception ex)
                {
                    // Never the clock's end: every other fault of the process depends on it. Targets contain their own
                    // errors; this is the last guard.
                    Trace.TraceError($"EchoKit fault clock: {ex}");
                }
            }

            due.Clear();
        }
    }

    /// <summary>Sleeps <paramref name="ticks"/> (under a millisecond) precisely where the platform allows it.</summary>
    private static void PreciseSleep(long ticks)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            _ = Native.usleep((uint)Math.Max(1, ticks * 1_000_000 / Stopwatch.Frequency));
        }
        else
        {
            Thread.Sleep(1);
        }
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "usleep")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SA1300 // The C library's name.
        public static extern int usleep(uint microseconds);
#pragma warning restore SA1300
    }
}
