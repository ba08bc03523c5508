namespace EchoKit.Internal;

/// <summary>The per-connection time limits in milliseconds, -1 where a limit is off; see <see cref="StreamConnection.EnforceLimits"/>.</summary>
internal readonly record struct TimeLimits(long IdleMs, long SendMs, long LifetimeMs, long DrainMs, long HandshakeMs, long ProxyHeaderMs, long ConnectMs)
{
    public static TimeLimits From(EchoServerOptions options) => new(
        Milliseconds(options.IdleTimeout),
        Milliseconds(options.SendTimeout),
        Milliseconds(options.MaxConnectionLifetime),
        (long)options.ShutdownTimeout.TotalMilliseconds,
        options.TlsEndPoints.Count > 0 ? (long)options.Tls.HandshakeTimeout.TotalMilliseconds : -1,
        options.ProxyProtocol.Enabled ? (long)options.ProxyProtocol.HeaderTimeout.TotalMilliseconds : -1,
        options.Upstream is { } upstream ? (long)upstream.ConnectTimeout.TotalMilliseconds : -1);

    /// <summary>How often the housekeeping timer must run to enforce the limits within a quarter of the shortest one.</summary>
    public TimeSpan SweepPeriod
    {
        get
        {
            var shortest = new[] { IdleMs, SendMs, LifetimeMs, HandshakeMs, ProxyHeaderMs, ConnectMs, Math.Max(DrainMs, 1000) }.Where(ms => ms >= 0).Min();
            return TimeSpan.FromMilliseconds(Math.Clamp(shortest / 4, 10, 1000));
        }
    }

    private static long Milliseconds(TimeSpan? value) => value is { } v ? (long)v.TotalMilliseconds : -1;
}
