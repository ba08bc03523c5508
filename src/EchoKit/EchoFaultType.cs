namespace EchoKit;

/// <summary>The kinds of <see cref="EchoFault"/> the server can inject on TCP and Unix socket connections.</summary>
public enum EchoFaultType
{
    /// <summary><c>latency</c>: each echo is written a delay (± jitter) after its bytes arrived.</summary>
    Latency = 0,

    /// <summary><c>slice</c>: each echo is written in small pieces, with a pause between them.</summary>
    Slice = 1,

    /// <summary><c>limit</c>: a fixed number of bytes is echoed, then the connection is closed (FIN) or reset (RST).</summary>
    Limit = 2,

    /// <summary><c>reset</c>: the connection is reset (RST) a fixed time after it was accepted.</summary>
    Reset = 3,

    /// <summary><c>refuse</c>: each connection is closed at once after accept, before any byte, by RST or FIN.</summary>
    Refuse = 4,

    /// <summary><c>blackhole</c>: what arrives is read and discarded, nothing is echoed; optionally closed after a while.</summary>
    Blackhole = 5,
}
