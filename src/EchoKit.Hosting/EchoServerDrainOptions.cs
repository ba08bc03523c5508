namespace EchoKit.Hosting;

/// <summary>
/// How a hosted echo server leaves a load balancer before it stops (docs/DEPLOY.md): named like the server
/// (<c>services.Configure&lt;EchoServerDrainOptions&gt;("edge", o =&gt; ...)</c>), or the <c>DrainDelay</c> key of the
/// server's configuration section.
/// </summary>
public sealed class EchoServerDrainOptions
{
    /// <summary>
    /// When the host stops, how long the server goes on accepting and echoing while its health check
    /// (<see cref="EchoServerHealthCheckBuilderExtensions.AddEchoServer"/>) already reports it unhealthy ("draining"),
    /// so a balancer that polls it takes the instance out before it stops listening; then it stops as usual within
    /// <see cref="EchoServerOptions.ShutdownTimeout"/>. The host's own shutdown timeout bounds the whole stop, so keep it
    /// above this plus ShutdownTimeout. Defaults to zero: no drain.
    /// </summary>
    public TimeSpan DrainDelay { get; set; }

    /// <summary>What was wrong with the <c>DrainDelay</c> key, for the validator; null when it was fine or absent.</summary>
    internal string? BindError { get; set; }
}
