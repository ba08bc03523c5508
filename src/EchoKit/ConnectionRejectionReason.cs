namespace EchoKit;

/// <summary>Why an accepted socket was closed at once instead of being served.</summary>
public enum ConnectionRejectionReason
{
    /// <summary><see cref="EchoServerOptions.MaxConnections"/> connections were already being served.</summary>
    MaxConnectionsExceeded = 0,

    /// <summary>The server was stopping when the connection arrived.</summary>
    ServerStopping = 1,

    /// <summary><see cref="EchoServerOptions.MaxConnectionsPerAddress"/> connections from the same address were already being served.</summary>
    MaxConnectionsPerAddressExceeded = 2,

    /// <summary>More than <see cref="EchoServerOptions.MaxConnectionRate"/> connections arrived within a second.</summary>
    RateLimited = 3,

    /// <summary>
    /// The process was at, or within the runtime's margin of, its file descriptor limit (<c>RLIMIT_NOFILE</c>): the
    /// connection was accepted (with the server's reserve descriptor when none was left) and closed at once, so the
    /// client sees a close instead of waiting in the backlog. <see cref="ConnectionRejectedEventArgs.RemoteEndPoint"/>
    /// may be <see langword="null"/>: nothing is allocated for such a connection.
    /// </summary>
    DescriptorLimitReached = 4,

    /// <summary>
    /// A <c>refuse</c> rule of <see cref="EchoServerOptions.Faults"/> closed the connection at once, before any byte
    /// (RST, or FIN with <c>mode=close</c>); it is counted as rejected, never as accepted.
    /// </summary>
    FaultInjected = 5,

    /// <summary>
    /// <see cref="EchoServerOptions.ProxyProtocol"/> is on and the connection did not start with a valid PROXY header:
    /// none (the bytes were something else), a malformed or unsupported one, one longer than
    /// <see cref="ProxyProtocolOptions.MaxHeaderLength"/>, or the client closed before it was complete. Nothing was echoed.
    /// </summary>
    ProxyHeaderInvalid = 6,

    /// <summary>The PROXY header was not complete within <see cref="ProxyProtocolOptions.HeaderTimeout"/>. Nothing was echoed.</summary>
    ProxyHeaderTimeout = 7,

    /// <summary>The connection came from outside <see cref="ProxyProtocolOptions.TrustedNetworks"/>, so its PROXY header could not be trusted.</summary>
    ProxyUntrusted = 8,
}
