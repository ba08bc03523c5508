namespace EchoKit;

/// <summary>
/// Which direction of a <see cref="FaultProxy"/> connection a rule acts on (<c>stream=</c>, Toxiproxy's names). On an
/// <see cref="EchoServer"/> the echo is both directions at once, so a rule acts on it whatever its stream.
/// </summary>
public enum FaultDirection
{
    /// <summary>Server to client: the upstream's answers on their way back (<c>downstream</c>, the default).</summary>
    Downstream = 0,

    /// <summary>Client to server: the client's bytes on their way to the upstream (<c>upstream</c>).</summary>
    Upstream = 1,
}
