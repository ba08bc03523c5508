using System.Buffers.Binary;
using System.Net;
using System.Text;
using EchoKit.Internal;

namespace EchoKit.Tests;

/// <summary>Builds PROXY headers byte by byte for the parser tests, independently of the parser.</summary>
internal static class ProxyHeaderBuilder
{
    public const int MaxLength = 16 + 216 + 512;

    public static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static byte[] V1(string line) => Encoding.Latin1.GetBytes(line);

    /// <summary>A v2 header: signature, version/command byte, family/transport byte, big-endian length, body.</summary>
    public static byte[] V2(byte versionCommand, byte familyTransport, params byte[] body)
    {
        var header = new byte[16 + body.Length];
        Signature.CopyTo(header, 0);
        header[12] = versionCommand;
        header[13] = familyTransport;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), checked((ushort)body.Length));
        body.CopyTo(header, 16);
        return header;
    }

    /// <summary>A v2 PROXY header over STREAM for two IPv4 or two IPv6 endpoints, with TLVs after the address block.</summary>
    public static byte[] V2Proxy(IPEndPoint source, IPEndPoint destination, params (byte Type, byte[] Value)[] tlvs)
    {
        var inet6 = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var body = new List<byte>();
        body.AddRange(source.Address.GetAddressBytes());
        body.AddRange(destination.Address.GetAddressBytes());
        body.AddRange(Port(source.Port));
        body.AddRange(Port(destination.Port));
        body.AddRange(Tlvs(tlvs));
        return V2(0x21, inet6 ? (byte)0x21 : (byte)0x11, [.. body]);
    }

    public static byte[] Tlvs(params (byte Type, byte[] Value)[] tlvs)
    {
        var bytes = new List<byte>();
        foreach (var (type, value) in tlvs)
        {
            bytes.Add(type);
            bytes.AddRange(Port(value.Length));
            bytes.AddRange(value);
        }

        return [.. bytes];
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    public static ProxyParseStatus Parse(ReadOnlySpan<byte> bytes, out ProxyHeader header, out int consumed, out ProxyHeaderError error) =>
        ProxyHeaderParser.TryParse(bytes, MaxLength, out header, out consumed, out error);

    private static byte[] Port(int value) => [(byte)(value >> 8), (byte)value];
}
