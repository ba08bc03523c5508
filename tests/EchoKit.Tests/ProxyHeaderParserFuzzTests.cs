using System.Globalization;
using System.Net;
using System.Text;
using CsCheck;
using EchoKit.Internal;
using static EchoKit.Tests.ProxyHeaderBuilder;

namespace EchoKit.Tests;

/// <summary>Property tests of the PROXY header parser with CsCheck: generated valid headers, their prefixes and mutations, and noise.</summary>
public class ProxyHeaderParserFuzzTests
{
    private const int Iterations = 5_000;

    private static readonly Gen<IPAddress> IPv4 = Gen.Byte.Array[4].Select(b => new IPAddress(b));

    /// <summary>IPv6 with runs of zero groups (so text forms use <c>::</c>) and IPv4-mapped addresses (printed dotted).</summary>
    private static readonly Gen<IPAddress> IPv6 = Gen.OneOf(
        Gen.OneOf(Gen.Const((ushort)0), Gen.UShort).Array[8].Select(g => new IPAddress(g.SelectMany(x => new[] { (byte)(x >> 8), (byte)x }).ToArray())),
        IPv4.Select(a => a.MapToIPv6()));

    private static readonly Gen<int> Port = Gen.OneOf(Gen.Int[0, 65535], Gen.OneOf(Gen.Const(0), Gen.Const(65535)));

    private static readonly Gen<(byte Type, byte[] Value)[]> TlvList = Gen.Select(Gen.Byte, Gen.Byte.Array[0, 40]).Array[0, 4];

    private static readonly Gen<Generated> V1Header = Gen.OneOf(
        Gen.Select(Gen.Bool, IPv4, IPv4, Port, Port).Select((full, s, d, sp, dp) => V1Tcp("TCP4", new IPEndPoint(s, sp), new IPEndPoint(d, dp), full)),
        Gen.Select(Gen.Bool, IPv6, IPv6, Port, Port).Select((full, s, d, sp, dp) => V1Tcp("TCP6", new IPEndPoint(s, sp), new IPEndPoint(d, dp), full)),
        Gen.Char['!', '~'].Array[0, 91].Select(rest => new Generated(V1(rest.Length == 0 ? "PROXY UNKNOWN\r\n" : $"PROXY UNKNOWN {new string(rest)}\r\n"), ProxyFamily.Unspecified, null, null)));

    private static readonly Gen<Generated> V2Header = Gen.OneOf(
        Gen.Select(Gen.OneOf(IPv4.Select(a => (a, a)), IPv6.Select(a => (a, a))), IPv4, IPv6, Port, Port, TlvList).Select((pick, d4, d6, sp, dp, tlvs) =>
        {
            var source = new IPEndPoint(pick.Item1, sp);
            var destination = new IPEndPoint(pick.Item1.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? d4 : d6, dp);
            var family = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ProxyFamily.Inet : ProxyFamily.Inet6;
            return new Generated(V2Proxy(source, destination, tlvs), family, source, destination);
        }),
        Gen.Select(Gen.Byte.Array[216], TlvList, Gen.Int[0, 2]).Select((paths, tlvs, transport) =>
            new Generated(V2(0x21, (byte)(0x30 | transport), Concat(paths, Tlvs(tlvs))), ProxyFamily.Unix, null, null)),
        Gen.Select(Gen.Byte, Gen.Byte.Array[0, 100]).Select((familyTransport, body) => new Generated(V2(0x20, familyTransport, body), ProxyFamily.Unspecified, null, null)),
        Gen.Byte.Array[0, 100].Select(body => new Generated(V2(0x21, 0x00, body), ProxyFamily.Unspecified, null, null)));

    private static readonly Gen<Generated> AnyHeader = Gen.OneOf(V1Header, V2Header);

    /// <summary>Noise, alone or behind the start of a header so it reaches past the signature checks.</summary>
    private static readonly Gen<byte[]> Noise = Gen.Select(
        Gen.OneOf(Gen.Const(Array.Empty<byte>()), Gen.Const("PROXY "u8.ToArray()), Gen.Const("PROXY TCP4 1.2.3.4 "u8.ToArray()), Gen.Const("PROXY TCP6 "u8.ToArray()),
            Gen.Const(Signature), Gen.Const(Concat(Signature, [0x21, 0x11])), Gen.Const(Concat(Signature, [0x21, 0x21, 0x00]))),
        Gen.Byte.Array[0, 300]).Select((start, rest) => Concat(start, rest));

    [Fact]
    public void Random_bytes_never_throw_and_never_claim_more_than_they_have() =>
        Noise.Sample(bytes =>
        {
            var status = Parse(bytes, out var header, out var consumed, out var error);
            if (status == ProxyParseStatus.Complete)
            {
                Assert.InRange(consumed, 1, bytes.Length);
                Assert.Contains(header.Version, new[] { 1, 2 });
            }
            else
            {
                Assert.Equal(0, consumed);
            }

            Assert.Equal(status == ProxyParseStatus.Invalid, error != ProxyHeaderError.None);
        }, iter: Iterations * 5, threads: 1);

    [Fact]
    public void Generated_valid_headers_round_trip_with_their_payload() =>
        Gen.Select(AnyHeader, Gen.Byte.Array[0, 20]).Sample((generated, payload) =>
        {
            var bytes = Concat(generated.Bytes, payload);
            Assert.Equal(ProxyParseStatus.Complete, Parse(bytes, out var header, out var consumed, out _));
            Assert.Equal(generated.Bytes.Length, consumed);
            Assert.Equal(generated.Family, header.Family);
            Assert.Equal(generated.Source, header.Source);
            Assert.Equal(generated.Destination, header.Destination);
        }, iter: Iterations, threads: 1);

    [Fact]
    public void Truncated_valid_headers_are_incomplete() =>
        AnyHeader.Sample(generated =>
        {
            for (var length = 0; length < generated.Bytes.Length; length++)
            {
                Assert.Equal(ProxyParseStatus.Incomplete, Parse(generated.Bytes.AsSpan(0, length), out _, out _, out _));
            }
        }, iter: Iterations / 4, threads: 1);

    [Fact]
    public void Single_byte_mutations_never_throw_and_parse_the_same_twice() =>
        Gen.Select(AnyHeader, Gen.Int[0, int.MaxValue], Gen.Byte).Sample((generated, where, value) =>
        {
            var bytes = (byte[])generated.Bytes.Clone();
            bytes[where % bytes.Length] = value;
            var first = Parse(bytes, out var header, out var consumed, out var error);
            var second = Parse(bytes, out var again, out var consumedAgain, out var errorAgain);
            Assert.Equal((first, consumed, error), (second, consumedAgain, errorAgain));
            Assert.Equal((header.Version, header.Family, header.Source, header.Destination), (again.Version, again.Family, again.Source, again.Destination));
            Assert.InRange(consumed, 0, bytes.Length);
            Assert.Equal(first == ProxyParseStatus.Complete && header.Family is ProxyFamily.Inet or ProxyFamily.Inet6 && header.Command == ProxyCommand.Proxy, header.HasAddresses);
        }, iter: Iterations * 2, threads: 1);

    /// <summary>
    /// The pump parses again from the start after every receive, so the verdict may only move forward as bytes arrive:
    /// Incomplete until it becomes Invalid (for one reason, for good) or Complete (with one length, for good).
    /// </summary>
    [Fact]
    public void The_verdict_never_changes_once_reached_as_bytes_arrive() =>
        Gen.Select(AnyHeader, Gen.Int[0, int.MaxValue], Gen.Byte, Gen.Byte.Array[0, 8]).Sample((generated, where, value, more) =>
        {
            var bytes = Concat(generated.Bytes, more);
            bytes[where % generated.Bytes.Length] = value;
            var (verdict, consumed, error) = (ProxyParseStatus.Incomplete, 0, ProxyHeaderError.None);
            for (var length = 0; length <= bytes.Length; length++)
            {
                var now = Parse(bytes.AsSpan(0, length), out _, out var nowConsumed, out var nowError);
                if (verdict != ProxyParseStatus.Incomplete)
                {
                    Assert.True((verdict, consumed, error) == (now, nowConsumed, nowError), $"{length} bytes gave {now} {nowError} after {verdict} {error}");
                }

                (verdict, consumed, error) = (now, nowConsumed, nowError);
            }
        }, iter: Iterations / 2, threads: 1);

    /// <summary>
    /// The parser's own IPv6 text reading agrees with the runtime's on colon-hex forms, valid or not (group counts,
    /// <c>::</c> anywhere, a dotted tail, long groups); it is stricter only where the spec is (no scope, no brackets).
    /// </summary>
    [Fact]
    public void V1_IPv6_text_is_read_as_the_runtime_reads_it()
    {
        var accepted = 0;
        Gen.Select(Gen.OneOf(Gen.Int[0, 0xFFFF].Select(v => v.ToString("x", CultureInfo.InvariantCulture)), Gen.Int[0, 0xFFFF].Select(v => v.ToString("X4", CultureInfo.InvariantCulture)), Gen.Const("12345")).Array[0, 9],
            Gen.Int[-1, 9], Gen.Bool, IPv4).Select(IPv6Text).Sample(text =>
        {
            var status = Parse(V1($"PROXY TCP6 {text} ::1 1 2\r\n"), out var header, out _, out var error);
            var runtime = IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            Assert.True(runtime == (status == ProxyParseStatus.Complete), $"{text}: runtime {runtime}, parser {status} {error}");
            if (runtime)
            {
                Assert.Equal(address, header.Source!.Address);
                accepted++;
            }
            else
            {
                // An empty address leaves two spaces in a row.
                Assert.Equal(text.Length == 0 ? ProxyHeaderError.Malformed : ProxyHeaderError.InvalidAddress, error);
            }
        }, iter: Iterations * 5, threads: 1);

        // The generator must reach both sides of the line for the agreement to mean anything.
        Assert.InRange(accepted, Iterations / 10, Iterations * 4);
    }

    private static string IPv6Text(string[] groups, int gapAt, bool dottedTail, IPAddress tail)
    {
        var parts = new List<string>(groups);
        if (dottedTail)
        {
            parts.Add(tail.ToString());
        }

        var text = string.Join(':', parts);
        if (gapAt >= 0 && gapAt <= parts.Count)
        {
            text = string.Join(':', parts.Take(gapAt)) + "::" + string.Join(':', parts.Skip(gapAt));
        }

        return text;
    }

    private static Generated V1Tcp(string protocol, IPEndPoint source, IPEndPoint destination, bool fullForm)
    {
        var line = $"PROXY {protocol} {Text(source.Address, fullForm)} {Text(destination.Address, fullForm)} {source.Port} {destination.Port}\r\n";
        return new Generated(Encoding.ASCII.GetBytes(line), protocol == "TCP4" ? ProxyFamily.Inet : ProxyFamily.Inet6, source, destination);
    }

    /// <summary>IPv6 printed either as the runtime prints it (compressed, dotted when mapped) or as eight upper-case groups.</summary>
    private static string Text(IPAddress address, bool fullForm)
    {
        if (!fullForm || address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        return string.Join(':', Enumerable.Range(0, 8).Select(i => ((bytes[2 * i] << 8) | bytes[(2 * i) + 1]).ToString("X", CultureInfo.InvariantCulture)));
    }

    internal sealed record Generated(byte[] Bytes, ProxyFamily Family, IPEndPoint? Source, IPEndPoint? Destination)
    {
        public override string ToString() => Convert.ToHexString(Bytes);
    }
}
