using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>A datagram's source address as two 64-bit halves of an IPv6 address (IPv4 as IPv4-mapped), for hashing without allocation.</summary>
internal readonly record struct UdpSourceKey(ulong High, ulong Low);

/// <summary>
/// The <see cref="SocketAsyncEventArgs.RemoteEndPoint"/> of a UDP receive. After a receive from a new source the runtime
/// calls <see cref="Create"/> to make an endpoint for it, which would allocate an <see cref="IPEndPoint"/> and an
/// <see cref="IPAddress"/> for every datagram from a different source; this one reads what it needs from the raw
/// socket address (port, address, whether it can be a sender) and returns itself, so receiving allocates nothing.
/// The echo is then sent to the raw address the runtime kept, without an endpoint.
/// </summary>
internal sealed class UdpSource : IPEndPoint
{
    private const int PortOffset = 2;
    private const int IPv4AddressOffset = 4;
    private const int IPv6AddressOffset = 8;

    public UdpSource(AddressFamily family)
        : base(family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0)
    {
    }

    /// <summary>Whether <see cref="Create"/> ran for the last receive; if not, the source equalled this endpoint (the unspecified address, port 0).</summary>
    public bool Captured { get; private set; }

    /// <summary>The source port of the last datagram.</summary>
    public int SourcePort { get; private set; }

    /// <summary>The source address of the last datagram.</summary>
    public UdpSourceKey Key { get; private set; }

    /// <summary>Whether the last source address could not have sent a datagram: unspecified, multicast, broadcast or reserved.</summary>
    public bool IsInvalidSender { get; private set; }

    public void Reset() => Captured = false;

    /// <summary>Reads the source of the datagram just received; returns this endpoint, so nothing is allocated.</summary>
    public override EndPoint Create(SocketAddress socketAddress)
    {
        ArgumentNullException.ThrowIfNull(socketAddress);
        Capture(socketAddress.Family, socketAddress.Buffer.Span[..socketAddress.Size]);
        return this;
    }

    /// <summary>Reads the source from an endpoint the runtime made itself (should a future runtime not call <see cref="Create"/>).</summary>
    public void Capture(IPEndPoint endPoint)
    {
        Span<byte> raw = stackalloc byte[SocketAddress.GetMaximumAddressSize(AddressFamily.InterNetworkV6)];
        var address = endPoint.Address;
        raw[PortOffset] = (byte)(endPoint.Port >> 8);
        raw[PortOffset + 1] = (byte)endPoint.Port;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(raw[IPv4AddressOffset..], out _);
        }
        else
        {
            address.TryWriteBytes(raw[IPv6AddressOffset..], out _);
        }

        Capture(address.AddressFamily, raw);
    }

    /// <summary>Rebuilds the source as an <see cref="IPEndPoint"/>; allocates, so only for logging.</summary>
    public IPEndPoint ToIPEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, Key.High);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Key.Low);
        var address = new IPAddress(bytes);
        return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, SourcePort);
    }

    private void Capture(AddressFamily family, ReadOnlySpan<byte> raw)
    {
        if (raw.Length < (family == AddressFamily.InterNetwork ? IPv4AddressOffset + 4 : IPv6AddressOffset + 16))
        {
            return;
        }

        Captured = true;
        SourcePort = (raw[PortOffset] << 8) | raw[PortOffset + 1];
        if (family == AddressFamily.InterNetwork)
        {
            var v4 = BinaryPrimitives.ReadUInt32BigEndian(raw[IPv4AddressOffset..]);
            Key = new UdpSourceKey(0, 0xFFFF_0000_0000UL | v4);
            IsInvalidSender = IsInvalidIPv4(v4);
            return;
        }

        var high = BinaryPrimitives.ReadUInt64BigEndian(raw[IPv6AddressOffset..]);
        var low = BinaryPrimitives.ReadUInt64BigEndian(raw[(IPv6AddressOffset + 8)..]);
        Key = new UdpSourceKey(high, low);
        if (high == 0 && (low >> 32) == 0xFFFF)
        {
            // IPv4-mapped (a dual-mode socket): the same rules and the same rate-limit bucket as IPv4.
            IsInvalidSender = IsInvalidIPv4((uint)low);
        }
        else
        {
            IsInvalidSender = (high == 0 && low == 0) || (high >> 56) == 0xFF;
        }
    }

    /// <summary>0.0.0.0/8 (this network), 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved, with broadcast).</summary>
    private static bool IsInvalidIPv4(uint address) => (address >> 24) is 0 or >= 224;
}
