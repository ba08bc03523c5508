namespace EchoKit.Cli;

/// <summary>Where a <c>serve</c> run is in its life, as <c>/healthz</c> and <c>/readyz</c> of the admin endpoint report it.</summary>
internal enum ServePhase
{
    /// <summary>The admin endpoint is up, the echo listeners are being bound.</summary>
    Starting,

    /// <summary>Every listener accepts: the only phase in which <c>/readyz</c> answers 200.</summary>
    Serving,

    /// <summary>A stop was asked for and <c>--drain-delay</c> runs: still accepting and echoing, no longer ready.</summary>
    Draining,

    /// <summary>The server is stopping (no longer accepting, letting connections finish).</summary>
    Stopping,
}

/// <summary>
/// The phase of one <c>serve</c> run, written by <see cref="ServeCommand"/> and read by the admin endpoint's probes
/// from Kestrel's threads. It only moves forward, so a probe never sees a run become ready again.
/// </summary>
internal sealed class ServeLifecycle
{
    private int _phase = (int)ServePhase.Starting;

    /// <summary>The phase now.</summary>
    public ServePhase Phase => (ServePhase)Volatile.Read(ref _phase);

    /// <summary>Moves to <paramref name="phase"/> unless the run is already past it.</summary>
    public void MoveTo(ServePhase phase)
    {
        var current = Volatile.Read(ref _phase);
        while (current < (int)phase)
        {
            var seen = Interlocked.CompareExchange(ref _phase, (int)phase, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
