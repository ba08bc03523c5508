namespace EchoKit;

/// <summary>Why a connection ended. The first reason decided wins; later causes do not change it.</summary>
public enum ConnectionCloseReason
{
    /// <summary>The client shut down its sending side or closed; everything it sent had been echoed.</summary>
    ClientClosed = 0,

    /// <summary>The client reset or aborted the connection (RST, broken pipe).</summary>
    ConnectionReset = 1,

    /// <summary>No byte was received or sent for <see cref="EchoServerOptions.IdleTimeout"/>.</summary>
    IdleTimeout = 2,

    /// <summary>
    /// The server was stopping: the connection was closed after its in-flight echo, or aborted when
    /// <see cref="EchoServerOptions.ShutdownTimeout"/> ran out.
    /// </summary>
    ServerStopping = 3,

    /// <summary>An unexpected socket error ended the connection.</summary>
    Error = 4,

    /// <summary>An echo could not be written for <see cref="EchoServerOptions.SendTimeout"/>: the client was not reading.</summary>
    SendTimeout = 5,

    /// <summary>The connection reached <see cref="EchoServerOptions.MaxConnectionLifetime"/> and was closed after its in-flight echo.</summary>
    LifetimeExceeded = 6,

    /// <summary>The connection reached <see cref="EchoServerOptions.MaxBytesPerConnection"/>; bytes beyond it were not echoed.</summary>
    ByteLimitExceeded = 7,

    /// <summary>
    /// The TLS handshake failed (for example no common protocol, or a missing or rejected client certificate) or
    /// did not complete within <see cref="TlsEchoOptions.HandshakeTimeout"/>; nothing was echoed.
    /// </summary>
    TlsHandshakeFailed = 8,

    /// <summary>
    /// A rule of <see cref="EchoServerOptions.Faults"/> ended the connection on purpose: <c>reset</c> (RST),
    /// <c>limit</c> (FIN after its bytes, or RST) or <c>blackhole</c> with <c>close-after</c> (FIN).
    /// </summary>
    FaultInjected = 9,

    /// <summary>
    /// A <see cref="FaultProxy"/> could not connect to its upstream (refused, unreachable, a host name that does not
    /// resolve, or its connect timeout passed); the client's connection is closed.
    /// </summary>
    UpstreamUnavailable = 10,
}
