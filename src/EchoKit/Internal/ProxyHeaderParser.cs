using System.Buffers.Binary;
using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// Parses a PROXY protocol v1 or v2 header (HAProxy's proxy-protocol.txt) from the start of a connection's bytes. Pure
/// and stateless, so a pump that receives in arbitrary pieces parses its whole buffer again after each receive: a
/// header is at most 107 bytes (v1) or the caller's bound (v2), so re-reading is cheaper than keeping state. Nothing is
/// allocated unless the header is complete, and then only its endpoints. It never guesses: bytes that cannot begin a
/// header are <see cref="ProxyHeaderError.NoHeader"/>, and any header is rejected as soon as the bytes seen prove it
/// invalid, so a hostile peer cannot hold a connection by sending a header that can never complete.
/// </summary>
internal static partial class ProxyHeaderParser
{
    /// <summary>The v1 bound from the spec: the longest TCP6 line plus CRLF.</summary>
    public const int V1MaxLength = 107;

    /// <summary>The v2 fixed part: signature, version and command, family and transport, length.</summary>
    public const int V2FixedLength = 16;

    private const int InetBlock = 12;
    private const int Inet6Block = 36;
    private const int UnixBlock = 216;
    private const int TlvHeaderLength = 3;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>
    /// Parses the header at the start of <paramref name="received"/>: everything received on the connection so far.
    /// On <see cref="ProxyParseStatus.Complete"/>, <paramref name="consumed"/> is the header's length; otherwise it is 0
    /// and <paramref name="header"/> is default. <paramref name="error"/> is <see cref="ProxyHeaderError.None"/> unless
    /// the status is <see cref="ProxyParseStatus.Invalid"/>. <paramref name="maxHeaderLength"/> is the largest v2 header
    /// accepted (16 + length), at least 16; v1 has its fixed bound of 107.
    /// </summary>
    public static ProxyParseStatus TryParse(ReadOnlySpan<byte> received, int maxHeaderLength, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHeaderLength, V2FixedLength);
        header = default;
        consumed = 0;
        error = ProxyHeaderError.None;
        if (received.IsEmpty)
        {
            return ProxyParseStatus.Incomplete;
        }

        var status = received[0] == V2Signature[0]
            ? ParseV2(received, maxHeaderLength, ref header, ref consumed, ref error)
            : ParseV1(received, ref header, ref consumed, ref error);
        if (status != ProxyParseStatus.Complete)
        {
            // The walkers may have set fields before failing; the contract promises defaults.
            header = default;
            consumed = 0;
        }

        return status;
    }

    private static ProxyParseStatus ParseV2(ReadOnlySpan<byte> received, int maxHeaderLength, ref ProxyHeader header, ref int consumed, ref ProxyHeaderError error)
    {
        var seen = Math.Min(received.Length, V2Signature.Length);
        if (!received[..seen].SequenceEqual(V2Signature[..seen]))
        {
            return Fail(ProxyHeaderError.NoHeader, ref error);
        }

        if (received.Length <= V2Signature.Length)
        {
            return ProxyParseStatus.Incomplete;
        }

        var versionCommand = received[12];
        if (versionCommand >> 4 != 2)
        {
            return Fail(ProxyHeaderError.UnsupportedVersion, ref error);
        }

        var command = versionCommand & 0x0F;
        if (command > 1)
        {
            return Fail(ProxyHeaderError.UnsupportedCommand, ref error);
        }

        if (received.Length < 14)
        {
            return ProxyParseStatus.Incomplete;
        }

        // LOCAL ignores the family byte and everything after the fixed part, as the spec requires.
        var isProxy = command == 1;
        var family = isProxy ? (ProxyFamily)(received[13] >> 4) : ProxyFamily.Unspecified;
        var transport = isProxy ? (ProxyTransport)(received[13] & 0x0F) : ProxyTransport.Unspecified;
        if (family > ProxyFamily.Unix)
        {
            return Fail(ProxyHeaderError.UnsupportedFamily, ref error);
        }

        if (transport > ProxyTransport.Datagram)
        {
            return Fail(ProxyHeaderError.UnsupportedTransport, ref error);
        }

        if (received.Length < V2FixedLength)
        {
            return ProxyParseStatus.Incomplete;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(received[14..]);
        var total = V2FixedLength + length;
        if (total > maxHeaderLength)
        {
            return Fail(ProxyHeaderError.TooLong, ref error);
        }

        var block = family switch
        {
            ProxyFamily.Inet => InetBlock,
            ProxyFamily.Inet6 => Inet6Block,
            ProxyFamily.Unix => UnixBlock,
            _ => 0,
        };
        if (length < block)
        {
            return Fail(ProxyHeaderError.AddressBlockTooShort, ref error);
        }

        // UNSPEC has no defined address block, so where TLVs would start is unknown: like LOCAL, skip the rest.
        if (family != ProxyFamily.Unspecified && !TlvsFit(received[..Math.Min(received.Length, total)], V2FixedLength + block, total))
        {
            return Fail(ProxyHeaderError.Malformed, ref error);
        }

        if (received.Length < total)
        {
            return ProxyParseStatus.Incomplete;
        }

        IPEndPoint? source = null, destination = null;
        if (family is ProxyFamily.Inet or ProxyFamily.Inet6)
        {
            var size = family == ProxyFamily.Inet ? 4 : 16;
            var addresses = received.Slice(V2FixedLength, block);
            source = new IPEndPoint(new IPAddress(addresses[..size]), BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size)..]));
            destination = new IPEndPoint(new IPAddress(addresses.Slice(size, size)), BinaryPrimitives.ReadUInt16BigEndian(addresses[((2 * size) + 2)..]));
        }

        header = new ProxyHeader(2, isProxy ? ProxyCommand.Proxy : ProxyCommand.Local, family, transport, source, destination);
        consumed = total;
        return ProxyParseStatus.Complete;
    }

    /// <summary>
    /// Walks the TLVs received so far (type, 16-bit length, value) and reports whether each one seen ends within the
    /// header; values are not read (unknown types are skipped by design, and known ones are for the caller). A TLV
    /// whose 3-byte head has not arrived yet cannot be judged and is left for the next parse.
    /// </summary>
    private static bool TlvsFit(ReadOnlySpan<byte> available, int start, int total)
    {
        var position = start;
        while (position + TlvHeaderLength <= available.Length)
        {
            position += TlvHeaderLength + BinaryPrimitives.ReadUInt16BigEndian(available[(position + 1)..]);
            if (position > total)
            {
                return false;
            }
        }

        // One or two bytes left before the end can never become a TLV, whether or not they have arrived.
        var left = total - position;
        return left == 0 || left >= TlvHeaderLength;
    }

    private static ProxyParseStatus Fail(ProxyHeaderError reason, ref ProxyHeaderError error)
    {
        error = reason;
        return ProxyParseStatus.Invalid;
    }
}
