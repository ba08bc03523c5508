namespace EchoKit.Hosting.Internal;

/// <summary>
/// The names of the echo servers added to one service collection, and which of them drain now (the host is stopping
/// and the health check reports it).
/// </summary>
internal sealed class EchoServerRegistry : HostedNameRegistry
{
    private readonly HashSet<string> _draining = new(StringComparer.Ordinal);

    /// <summary>The host is stopping and the server called <paramref name="name"/> drains (see <see cref="EchoServerDrainOptions"/>).</summary>
    public void MarkDraining(string name)
    {
        lock (_draining)
        {
            _draining.Add(name);
        }
    }

    public bool IsDraining(string name)
    {
        lock (_draining)
        {
            return _draining.Contains(name);
        }
    }
}
