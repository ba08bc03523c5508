namespace EchoKit.Internal;

/// <summary>What <see cref="ProxyHeaderParser.TryParse"/> concluded from the bytes received so far.</summary>
internal enum ProxyParseStatus
{
    /// <summary>Everything seen so far can begin a valid header: receive more and parse again from the start.</summary>
    Incomplete,

    /// <summary>A whole header was read; the bytes after it are the client's.</summary>
    Complete,

    /// <summary>The bytes seen already prove there is no valid header: reject the connection.</summary>
    Invalid,
}

/// <summary>
/// Why a header was rejected, one value per cause an operator can act on (the server logs it and counts rejections
/// per value). Each names the first fault found; a header can have more.
/// </summary>
internal enum ProxyHeaderError
{
    None,

    /// <summary>The bytes begin with neither the v1 <c>PROXY </c> nor the v2 signature: the peer sent no header (or is not the balancer).</summary>
    NoHeader,

    /// <summary>A v1 line without its CRLF within 107 bytes, or a v2 header longer than the configured bound.</summary>
    TooLong,

    /// <summary>v2 signature with a version nibble other than 2.</summary>
    UnsupportedVersion,

    /// <summary>v2 command other than LOCAL (0) or PROXY (1).</summary>
    UnsupportedCommand,

    /// <summary>v2 address family above 3 (UNIX), or a v1 protocol other than TCP4, TCP6 or UNKNOWN.</summary>
    UnsupportedFamily,

    /// <summary>v2 transport above 2 (DGRAM).</summary>
    UnsupportedTransport,

    /// <summary>v2 length shorter than the address block its family needs (12, 36 or 216 bytes).</summary>
    AddressBlockTooShort,

    /// <summary>A v1 address that is not canonical text of the line's family (for example IPv6 on a TCP4 line).</summary>
    InvalidAddress,

    /// <summary>A v1 port that is not decimal 0-65535 without sign or leading zero.</summary>
    InvalidPort,

    /// <summary>Broken structure: v1 spacing, missing or extra fields, CR without LF; a v2 TLV running past the header's length.</summary>
    Malformed,
}
