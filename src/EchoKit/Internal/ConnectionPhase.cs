namespace EchoKit.Internal;

/// <summary>
/// Where a stream connection's pump is, for every transport; also the pump's steps. Switched with
/// <see cref="Interlocked"/> where a stop can race with the pump (WaitForData and Receive to Stopped).
/// </summary>
internal enum ConnectionPhase
{
    /// <summary>Admitted, not yet started: the accepted event and log come first.</summary>
    Start,

    /// <summary>PROXY protocol on: the header is being read, bounded by <see cref="ProxyProtocolOptions.HeaderTimeout"/>; nothing is echoed yet.</summary>
    ProxyHeader,

    /// <summary>A fault proxy's accepted connection: its upstream connection is being made, bounded by the proxy's connect timeout.</summary>
    Connect,

    /// <summary>TLS only: the handshake is running, bounded by <see cref="TlsEchoOptions.HandshakeTimeout"/>.</summary>
    Handshake,

    /// <summary>
    /// Writing <see cref="EchoServerOptions.Greeting"/> before the first receive; <see cref="EchoServerOptions.SendTimeout"/>
    /// applies as to <see cref="Send"/>, and a stop lets it finish, then drains.
    /// </summary>
    Greet,

    /// <summary>A zero-byte receive is pending, so the connection holds no buffer.</summary>
    WaitForData,

    Receive,

    /// <summary>Writing an echo; the only phase <see cref="EchoServerOptions.SendTimeout"/> applies to.</summary>
    Send,

    /// <summary>A fault (latency, slice) holds the echo in its buffer until the connection's fault timer wakes the pump.</summary>
    FaultDelay,

    /// <summary>Writing (a piece of) an echo that a fault shapes; <see cref="EchoServerOptions.SendTimeout"/> applies as to <see cref="Send"/>.</summary>
    FaultSend,

    /// <summary>A stop claimed a connection that had nothing in flight and sent FIN (and close_notify); what arrives is discarded.</summary>
    Stopped,

    /// <summary>
    /// Ending the sending side behind the last echo: FIN (TLS: close_notify, then FIN), before the drain or the close;
    /// bounded like the drain.
    /// </summary>
    CloseSend,

    /// <summary>Closing gracefully: FIN (and close_notify) sent behind the last echo; read and discard until the client closes.</summary>
    Drain,

    /// <summary>The pump has issued its last operation; the close sequence runs next.</summary>
    Close,
}
