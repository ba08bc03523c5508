using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// What the <see cref="ConnectionManager"/> knows of a served stream connection, plain TCP or TLS: its list links,
/// counters, and the hooks other threads may call under the manager's lock. The connection's own pump alone closes
/// it and takes it out of the list.
/// </summary>
internal abstract class ServedConnection
{
    /// <summary>Written only by the pump; read under the manager's lock for statistics (atomic on 64-bit).</summary>
    public long BytesReceived;

    public long BytesSent;

    /// <summary><see cref="Environment.TickCount64"/> of the last completed receive or send, for the time limits.</summary>
    public long LastActivity;

    // Links in the ConnectionManager's list, guarded by its lock.
    public ServedConnection? Previous;
    public ServedConnection? Next;

    public long Id { get; protected set; }

    public EchoListener Listener { get; protected set; } = null!;

    /// <summary>The client's IP address, known only when <see cref="EchoServerOptions.MaxConnectionsPerAddress"/> needs it.</summary>
    public IPAddress? RemoteAddress { get; protected set; }

    /// <summary>Whether the connection ended in a failed TLS handshake; read by the manager when it is removed.</summary>
    public virtual bool HandshakeFailed => false;

    /// <summary>Decides a close reason if none was decided yet and closes the socket so any pending operation completes at once.</summary>
    public abstract void Abort(ConnectionCloseReason reason);

    /// <summary>Closes after the in-flight echo is delivered (stop, lifetime): FIN, then drain until the client closes.</summary>
    public abstract void BeginGracefulClose(ConnectionCloseReason reason);

    /// <summary>Applies the timeouts and the lifetime limit; called by the housekeeping timer.</summary>
    public abstract void EnforceLimits(long now, in TimeLimits limits);

    /// <summary>The address to count for <see cref="EchoServerOptions.MaxConnectionsPerAddress"/>, IPv4-mapped addresses unmapped.</summary>
    protected static IPAddress? CountedAddress(EchoServerOptions options, EndPoint? remoteEndPoint) =>
        options.MaxConnectionsPerAddress is not null && remoteEndPoint is IPEndPoint ip
            ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address)
            : null;
}
