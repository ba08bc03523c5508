using System.Net;

namespace EchoKit.Internal;

internal enum ProxyCommand
{
    /// <summary>The balancer's own connection (a health check): keep the socket's addresses.</summary>
    Local,

    /// <summary>A relayed connection: the header carries the client's addresses unless the family is unspecified or UNIX.</summary>
    Proxy,
}

/// <summary>The v2 family nibble; v1 TCP4 and TCP6 map to <see cref="Inet"/> and <see cref="Inet6"/>, UNKNOWN to <see cref="Unspecified"/>.</summary>
internal enum ProxyFamily
{
    Unspecified,
    Inet,
    Inet6,
    Unix,
}

/// <summary>The v2 transport nibble; v1 lines are always <see cref="Stream"/> except UNKNOWN.</summary>
internal enum ProxyTransport
{
    Unspecified,
    Stream,
    Datagram,
}

/// <summary>
/// A parsed PROXY header. <see cref="Source"/> and <see cref="Destination"/> are set only for INET and INET6 with the
/// PROXY command; otherwise (LOCAL, UNSPEC/UNKNOWN, UNIX, whose paths are not read) the connection keeps the socket's
/// own addresses.
/// </summary>
internal readonly struct ProxyHeader(int version, ProxyCommand command, ProxyFamily family, ProxyTransport transport, IPEndPoint? source, IPEndPoint? destination)
{
    /// <summary>1 (text) or 2 (binary); 0 in a default value.</summary>
    public int Version { get; } = version;

    public ProxyCommand Command { get; } = command;

    public ProxyFamily Family { get; } = family;

    public ProxyTransport Transport { get; } = transport;

    public IPEndPoint? Source { get; } = source;

    public IPEndPoint? Destination { get; } = destination;

    /// <summary>Whether the header replaces the socket's addresses.</summary>
    public bool HasAddresses => Source is not null;
}
