using System.Diagnostics;

namespace EchoKit.Internal;

/// <summary>At most one message per interval (one per server); lock-free, so any accept loop may ask.</summary>
internal sealed class LogThrottle(TimeSpan interval)
{
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency);
    private long _next = long.MinValue;
    private long _suppressed;

    public LogThrottle()
        : this(TimeSpan.FromSeconds(1))
    {
    }

    public TimeSpan Interval => TimeSpan.FromSeconds((double)_intervalTicks / Stopwatch.Frequency);

    /// <summary>
    /// Whether to log now (a <see cref="Stopwatch"/> timestamp); when so, <paramref name="suppressed"/> is how many
    /// calls were refused since the last message, and the count starts over.
    /// </summary>
    public bool TryEnter(long now, out long suppressed)
    {
        var next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + _intervalTicks, next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }

        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }
}
