namespace EchoKit;

/// <summary>
/// The kinds of <see cref="EchoFault"/>. Stream rules apply to TCP, TLS and Unix socket connections, datagram rules to
/// UDP; <see cref="Latency"/> and <see cref="Corrupt"/> fit both.
/// </summary>
public enum EchoFaultType
{
    /// <summary><c>latency</c>: each echo (stream) or datagram (UDP) is written a delay (± jitter) after it arrived; order is kept.</summary>
    Latency = 0,

    /// <summary><c>slice</c> (stream): each echo is written in small pieces, with a pause between them.</summary>
    Slice = 1,

    /// <summary><c>limit</c> (stream): a fixed number of bytes is echoed, then the connection is closed (FIN) or reset (RST).</summary>
    Limit = 2,

    /// <summary><c>reset</c> (stream): the connection is reset (RST) a fixed time after it was accepted.</summary>
    Reset = 3,

    /// <summary><c>refuse</c> (stream): each connection is closed at once after accept, before any byte, by RST or FIN.</summary>
    Refuse = 4,

    /// <summary><c>blackhole</c> (stream): what arrives is read and discarded, nothing is echoed; optionally closed after a while.</summary>
    Blackhole = 5,

    /// <summary><c>bandwidth</c> (stream): the echo is written at most a fixed number of bytes per second.</summary>
    Bandwidth = 6,

    /// <summary><c>slow-close</c> (stream): when the client closes, the server's own close (FIN) is held back for a delay.</summary>
    SlowClose = 7,

    /// <summary><c>stall-reads</c> (stream): the server stops reading after some bytes, so the client's writes back up and block.</summary>
    StallReads = 8,

    /// <summary><c>corrupt</c>: one bit is flipped in roughly every so many echoed bytes.</summary>
    Corrupt = 9,

    /// <summary><c>drop</c> (UDP): the datagram is not echoed.</summary>
    Drop = 10,

    /// <summary><c>duplicate</c> (UDP): the datagram is echoed twice.</summary>
    Duplicate = 11,

    /// <summary><c>reorder</c> (UDP): the datagram is held back and echoed after the next one from the same source.</summary>
    Reorder = 12,

    /// <summary>
    /// <c>slow-open</c> (stream): the connection is accepted but nothing happens for a delay: an echo server reads (and
    /// greets) only after it, a fault proxy connects to its upstream only after it.
    /// </summary>
    SlowOpen = 13,
}
