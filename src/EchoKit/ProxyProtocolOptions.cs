using System.Net;

namespace EchoKit;

/// <summary>
/// The PROXY protocol (v1 text and v2 binary, HAProxy's specification) on the stream listeners of an
/// <see cref="EchoServer"/>: behind a load balancer that sends it, each connection starts with a header carrying the
/// client's own addresses, which then stand for the connection's endpoints in events, logs, metrics, the fault
/// selector and <see cref="EchoServerOptions.MaxConnectionsPerAddress"/>. See docs/DEPLOY.md.
/// </summary>
public sealed class ProxyProtocolOptions
{
    /// <summary>The smallest <see cref="MaxHeaderLength"/>: a v2 header with the largest address block (two Unix paths) and no TLVs.</summary>
    public const int MinHeaderLength = 16 + 216;

    /// <summary>
    /// Whether every TCP, TLS and Unix socket connection must start with a PROXY header (TLS: before the handshake).
    /// The header is read and consumed, never echoed; a connection without a valid one is closed and counted as
    /// rejected (<see cref="ConnectionRejectionReason.ProxyHeaderInvalid"/>). v1 and v2 are told apart by their
    /// signatures; nothing is guessed. UDP is not affected. Defaults to <see langword="false"/>.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// The networks a balancer may connect from, such as 127.0.0.0/8 or 10.0.0.0/8; a connection from elsewhere is
    /// closed at accept (<see cref="ConnectionRejectionReason.ProxyUntrusted"/>), since its header could claim any
    /// address. Empty trusts every source: then only the network in front of the server keeps clients from forging
    /// their address. Defaults to empty.
    /// </summary>
    public IList<IPNetwork> TrustedNetworks { get; } = new List<IPNetwork>();

    /// <summary>
    /// How long a connection has, from accept, to deliver its whole header; one that is slower is closed
    /// (<see cref="ConnectionRejectionReason.ProxyHeaderTimeout"/>), so a peer cannot hold a slot by sending a header
    /// byte by byte. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest v2 header accepted, in bytes (addresses and TLVs included); a longer one is rejected before it is
    /// read, so a header never needs more than one receive buffer. v1 lines have the specification's bound of 107.
    /// At least <see cref="MinHeaderLength"/> and at most <see cref="EchoServerOptions.ReceiveBufferSize"/>.
    /// Defaults to 4096.
    /// </summary>
    public int MaxHeaderLength { get; set; } = 4096;

    internal void CopyFrom(ProxyProtocolOptions source)
    {
        Enabled = source.Enabled;
        HeaderTimeout = source.HeaderTimeout;
        MaxHeaderLength = source.MaxHeaderLength;
        TrustedNetworks.Clear();
        foreach (var network in source.TrustedNetworks)
        {
            TrustedNetworks.Add(network);
        }
    }

    internal void AddValidationErrors(Action<string, string> fail, int receiveBufferSize)
    {
        if (HeaderTimeout <= TimeSpan.Zero || HeaderTimeout.TotalMilliseconds > int.MaxValue)
        {
            fail("ProxyProtocol.HeaderTimeout", $"must be greater than zero and at most {TimeSpan.FromMilliseconds(int.MaxValue)} (was {HeaderTimeout})");
        }

        if (MaxHeaderLength < MinHeaderLength || MaxHeaderLength > 16 + ushort.MaxValue)
        {
            fail("ProxyProtocol.MaxHeaderLength", $"must be from {MinHeaderLength} to {16 + ushort.MaxValue} bytes (was {MaxHeaderLength})");
        }
        else if (Enabled && MaxHeaderLength > receiveBufferSize)
        {
            fail("ProxyProtocol.MaxHeaderLength", $"must be at most ReceiveBufferSize ({receiveBufferSize}), since a header is read into one receive buffer (was {MaxHeaderLength})");
        }
    }

    /// <summary>Whether a connection from <paramref name="address"/> may carry a header; IPv4-mapped IPv6 addresses count as IPv4.</summary>
    internal bool Trusts(IPAddress? address)
    {
        if (TrustedNetworks.Count == 0)
        {
            return true;
        }

        if (address is null)
        {
            // A Unix socket peer has no address: only the file's permissions guard it.
            return true;
        }

        var plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in TrustedNetworks)
        {
            if (network.Contains(plain))
            {
                return true;
            }
        }

        return false;
    }
}
