namespace EchoKit.Internal;

/// <summary>
/// The pause before an accept or receive loop tries again after an unexpected failure (for example out of file
/// descriptors): 10 ms, doubling up to one second, back to 10 ms after a success. Runs the retry on a timer, so a
/// failing loop never spins and never holds a thread while it waits. One per loop; not thread-safe (a loop has one
/// operation at a time).
/// </summary>
internal sealed class RetryBackoff : IDisposable
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1);

    private readonly Timer _timer;
    private TimeSpan _delay;

    public RetryBackoff(Action retry) => _timer = new Timer(static s => ((Action)s!)(), retry, Timeout.Infinite, Timeout.Infinite);

    /// <summary>The loop succeeded: the next failure waits the shortest pause again.</summary>
    public void Reset() => _delay = TimeSpan.Zero;

    /// <summary>Grows the pause and returns it, for the log line; call <see cref="Schedule"/> after reporting.</summary>
    public TimeSpan Next()
    {
        _delay = _delay == TimeSpan.Zero ? FirstDelay : TimeSpan.FromTicks(Math.Min(_delay.Ticks * 2, MaxDelay.Ticks));
        return _delay;
    }

    /// <summary>Runs the retry after the pause <see cref="Next"/> returned; nothing happens once disposed.</summary>
    public void Schedule()
    {
        try
        {
            _timer.Change(_delay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The loop was closed while failing: nothing to retry.
        }
    }

    public void Dispose() => _timer.Dispose();
}
