using System.Diagnostics;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>Shared flags of one load run, and its measured window.</summary>
internal sealed class EchoRunState
{
    private volatile bool _recording;
    private volatile bool _stopping;

    /// <summary>Inside the measured window: connections record latencies and count messages.</summary>
    public bool Recording
    {
        get => _recording;
        set => _recording = value;
    }

    public bool Stopping
    {
        get => _stopping;
        set => _stopping = value;
    }

    /// <summary>
    /// Runs the warm-up, then the measured window with <see cref="Recording"/> on, and returns the window's length;
    /// calls <see cref="TimedLoadOptions.MeasurementStarted"/> and <see cref="TimedLoadOptions.MeasurementEnded"/> at
    /// its edges. <paramref name="endEarly"/> (for example: every UDP flow failed) cuts either phase short; a run that
    /// ends during the warm-up measures nothing.
    /// </summary>
    public async Task<TimeSpan> MeasureAsync(TimedLoadOptions options, Task? endEarly, CancellationToken cancellationToken)
    {
        if (!await WaitAsync(options.Warmup, endEarly, cancellationToken).ConfigureAwait(false))
        {
            return TimeSpan.Zero;
        }

        Recording = true;
        var start = Stopwatch.GetTimestamp();
        options.MeasurementStarted?.Invoke();
        await WaitAsync(options.Duration, endEarly, cancellationToken).ConfigureAwait(false);
        Recording = false;
        var elapsed = Stopwatch.GetElapsedTime(start);
        options.MeasurementEnded?.Invoke();
        return elapsed;
    }

    /// <summary>Ends the run, however the measurement ended: nothing more is recorded, and the senders stop.</summary>
    public void Stop()
    {
        Recording = false;
        Stopping = true;
    }

    /// <summary><see cref="Stop()"/>, and wakes each stream's send loop so it sees <see cref="Stopping"/> at once.</summary>
    public void Stop(IEnumerable<EchoLoadStream> streams)
    {
        Stop();
        foreach (var stream in streams)
        {
            stream.Wake();
        }
    }

    /// <summary>Waits <paramref name="delay"/> unless <paramref name="endEarly"/> completes first; false if it did.</summary>
    private static async Task<bool> WaitAsync(TimeSpan delay, Task? endEarly, CancellationToken cancellationToken)
    {
        if (endEarly is { IsCompleted: true })
        {
            return false;
        }

        if (delay > TimeSpan.Zero)
        {
            var wait = Task.Delay(delay, cancellationToken);
            await (endEarly is null ? wait : Task.WhenAny(wait, endEarly)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return endEarly is not { IsCompleted: true };
    }
}
