using System.Net;
using System.Text;
using EchoKit.Internal;
using static EchoKit.Tests.ProxyHeaderBuilder;

namespace EchoKit.Tests;

/// <summary>The PROXY protocol header parser on fixed inputs: what it accepts, what it rejects and why, and how early.</summary>
public class ProxyHeaderParserTests
{
    private static readonly IPEndPoint Source4 = IPEndPoint.Parse("192.0.2.1:56324");
    private static readonly IPEndPoint Destination4 = IPEndPoint.Parse("198.51.100.7:443");
    private static readonly IPEndPoint Source6 = IPEndPoint.Parse("[2001:db8::1]:65535");
    private static readonly IPEndPoint Destination6 = IPEndPoint.Parse("[::ffff:10.0.0.1]:0");

    /// <summary>Valid headers of every kind; the prefix and payload tests run over all of them.</summary>
    public static TheoryData<string, byte[]> ValidHeaders => new()
    {
        { "v1 TCP4", V1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n") },
        { "v1 TCP6", V1("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n") },
        { "v1 TCP6 longest", V1("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n") },
        { "v1 UNKNOWN", V1("PROXY UNKNOWN\r\n") },
        { "v1 UNKNOWN 107 bytes", V1("PROXY UNKNOWN " + new string('x', 91) + "\r\n") },
        { "v2 INET", V2Proxy(Source4, Destination4) },
        { "v2 INET TLVs", V2Proxy(Source4, Destination4, (0x01, "h2"u8.ToArray()), (0x04, []), (0xEE, new byte[300])) },
        { "v2 INET6", V2Proxy(Source6, Destination6) },
        { "v2 INET6 TLVs", V2Proxy(Source6, Destination6, (0x05, new byte[] { 1, 2, 3 })) },
        { "v2 UNIX", V2(0x21, 0x31, new byte[216]) },
        { "v2 UNIX TLVs", V2(0x21, 0x31, Concat(new byte[216], Tlvs((0x02, "example.com"u8.ToArray())))) },
        { "v2 LOCAL", V2(0x20, 0x00) },
        { "v2 LOCAL ignores family and body", V2(0x20, 0xFF, 1, 2) },
        { "v2 UNSPEC", V2(0x21, 0x00) },
        { "v2 UNSPEC skips body", V2(0x21, 0x00, 0xAA, 0xBB, 0xCC, 0xDD) },
    };

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", "192.0.2.1:56324", "198.51.100.7:443")]
    [InlineData("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0:0", "255.255.255.255:65535")]
    [InlineData("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n", "[2001:db8::1]:65535", "[::ffff:10.0.0.1]:0")]
    [InlineData("PROXY TCP6 :: ::1 1 2\r\n", "[::]:1", "[::1]:2")]
    [InlineData("PROXY TCP6 2001:0DB8:0:0:0:0:0:0001 1:2:3:4:5:6:7:8 1 2\r\n", "[2001:db8::1]:1", "[1:2:3:4:5:6:7:8]:2")]
    [InlineData("PROXY TCP6 1:2:3:4:5:6:7:: 1:: 1 2\r\n", "[1:2:3:4:5:6:7:0]:1", "[1::]:2")]
    [InlineData("PROXY TCP6 1:2:3:4:5:6:1.2.3.4 ::1.2.3.4 1 2\r\n", "[1:2:3:4:5:6:102:304]:1", "[::102:304]:2")]
    public void A_v1_TCP_line_gives_its_endpoints(string line, string source, string destination)
    {
        var bytes = V1(line);
        Assert.Equal(ProxyParseStatus.Complete, Parse(bytes, out var header, out var consumed, out var error));
        Assert.Equal(ProxyHeaderError.None, error);
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(1, header.Version);
        Assert.Equal(ProxyCommand.Proxy, header.Command);
        Assert.Equal(line[6..10] == "TCP4" ? ProxyFamily.Inet : ProxyFamily.Inet6, header.Family);
        Assert.Equal(ProxyTransport.Stream, header.Transport);
        Assert.True(header.HasAddresses);
        Assert.Equal(IPEndPoint.Parse(source), header.Source);
        Assert.Equal(IPEndPoint.Parse(destination), header.Destination);
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")]
    [InlineData("PROXY UNKNOWN anything  at all, even\rthis\r\n")]
    public void A_v1_UNKNOWN_line_keeps_the_socket_addresses(string line)
    {
        Assert.Equal(ProxyParseStatus.Complete, Parse(V1(line), out var header, out var consumed, out _));
        Assert.Equal(line.Length, consumed);
        Assert.Equal(ProxyFamily.Unspecified, header.Family);
        Assert.False(header.HasAddresses);
        Assert.Null(header.Destination);
    }

    [Fact]
    public void V2_INET_and_INET6_give_their_endpoints_with_or_without_TLVs()
    {
        foreach (var (source, destination) in new[] { (Source4, Destination4), (Source6, Destination6) })
        {
            foreach (var tlvs in new[] { Array.Empty<(byte, byte[])>(), [(0x01, "http/1.1"u8.ToArray()), (0x20, new byte[40]), (0x7F, [])] })
            {
                var bytes = V2Proxy(source, destination, tlvs);
                Assert.Equal(ProxyParseStatus.Complete, Parse(bytes, out var header, out var consumed, out var error));
                Assert.Equal((bytes.Length, ProxyHeaderError.None), (consumed, error));
                Assert.Equal((2, ProxyCommand.Proxy, ProxyTransport.Stream), (header.Version, header.Command, header.Transport));
                Assert.Equal(source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ProxyFamily.Inet : ProxyFamily.Inet6, header.Family);
                Assert.Equal(source, header.Source);
                Assert.Equal(destination, header.Destination);
            }
        }
    }

    [Theory]
    [InlineData(0x20, 0x00, "Local", "Unspecified", "Unspecified")]
    [InlineData(0x20, 0x11, "Local", "Unspecified", "Unspecified")]
    [InlineData(0x21, 0x00, "Proxy", "Unspecified", "Unspecified")]
    [InlineData(0x21, 0x31, "Proxy", "Unix", "Stream")]
    [InlineData(0x21, 0x32, "Proxy", "Unix", "Datagram")]
    public void V2_LOCAL_UNSPEC_and_UNIX_keep_the_socket_addresses(int versionCommand, int familyTransport, string command, string family, string transport)
    {
        // LOCAL's body is ignored whatever the family says; UNIX needs its 216 bytes of paths.
        var body = Concat(new byte[familyTransport >> 4 == 3 ? 216 : 0], Tlvs((0x03, new byte[4])));
        var bytes = V2((byte)versionCommand, (byte)familyTransport, body);
        Assert.Equal(ProxyParseStatus.Complete, Parse(bytes, out var header, out var consumed, out _));
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal((command, family, transport), (header.Command.ToString(), header.Family.ToString(), header.Transport.ToString()));
        Assert.False(header.HasAddresses);
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void The_bytes_after_a_header_are_not_consumed(string name, byte[] header)
    {
        var payload = "GET / HTTP/1.1\r\n\r\n"u8.ToArray();
        Assert.True(ProxyParseStatus.Complete == Parse(Concat(header, payload), out _, out var consumed, out _), name);
        Assert.Equal(header.Length, consumed);

        // A payload that looks like another header is still the client's.
        Assert.Equal(ProxyParseStatus.Complete, Parse(Concat(header, header), out _, out consumed, out _));
        Assert.Equal(header.Length, consumed);
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Every_prefix_of_a_valid_header_is_incomplete(string name, byte[] header)
    {
        for (var length = 0; length < header.Length; length++)
        {
            var status = Parse(header.AsSpan(0, length), out var parsed, out var consumed, out var error);
            Assert.True(status == ProxyParseStatus.Incomplete, $"{name}: {length} bytes gave {status} {error}");
            Assert.Equal((0, ProxyHeaderError.None, 0), (consumed, error, parsed.Version));
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n", 1)]
    [InlineData("\x16\x03\x01\x02\x00", 1)]
    [InlineData("hello", 1)]
    [InlineData("PRIX", 3)]
    [InlineData("PROXY", 0)]
    [InlineData("PROXY\r\n", 6)]
    [InlineData("proxy TCP4", 1)]
    [InlineData("\r\n\r\n\0\r\nQUIT\n", 0)]
    [InlineData("\r\n\r\n\0\r\nQUIX\n", 11)]
    [InlineData("\r\n\r\n\r\n", 5)]
    public void Bytes_that_cannot_begin_a_header_are_rejected_at_the_first_wrong_byte(string text, int firstWrongLength)
    {
        var bytes = V1(text);
        for (var length = 0; length <= bytes.Length; length++)
        {
            var status = Parse(bytes.AsSpan(0, length), out _, out var consumed, out var error);
            var expected = firstWrongLength > 0 && length >= firstWrongLength ? ProxyParseStatus.Invalid : ProxyParseStatus.Incomplete;
            Assert.True(expected == status, $"{length} bytes gave {status} {error}");
            Assert.Equal(expected == ProxyParseStatus.Invalid ? ProxyHeaderError.NoHeader : ProxyHeaderError.None, error);
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void Random_bytes_are_no_header_from_the_first_byte()
    {
        var random = new Random(862);
        for (var i = 0; i < 1_000; i++)
        {
            var bytes = TestHelpers.RandomBytes(random.Next(1, 64), random.Next());
            var status = Parse(bytes.AsSpan(0, 1), out _, out _, out var error);
            Assert.Equal(bytes[0] is (byte)'P' or 0x0D ? ProxyParseStatus.Incomplete : ProxyParseStatus.Invalid, status);
            Assert.Equal(status == ProxyParseStatus.Invalid ? ProxyHeaderError.NoHeader : ProxyHeaderError.None, error);
        }
    }

    [Theory]
    [InlineData("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY UNKNOWNX\r\n", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4\r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY \r\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY UNKNOWN\n", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 ::1 ::1 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4 ::ffff:1.2.3.4 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 127.1 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 256.0.0.1 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1:::2 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1::2::3 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 12345::1 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 :1::2 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1::2: 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1:2:3:4:5:6:7 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1:2:3:4:5:6:7::8 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 1:2:3:4:5:6:7:1.2.3.4 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 ::1.2.3.4:5 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 ::1%eth0 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 [::1] 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::1 g::1 1 2\r\n", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 65535\x99\n", nameof(ProxyHeaderError.InvalidPort))]
    public void An_invalid_v1_line_is_rejected_for_its_reason(string line, string reasonName)
    {
        var reason = Enum.Parse<ProxyHeaderError>(reasonName);
        var bytes = V1(line);
        Assert.Equal(ProxyParseStatus.Invalid, Parse(bytes, out var header, out var consumed, out var error));
        Assert.Equal((reason, 0, 0), (error, consumed, header.Version));

        // No prefix of it is ever taken for a header, and once rejected it stays rejected for the same reason.
        var rejected = false;
        for (var length = 0; length < bytes.Length; length++)
        {
            var status = Parse(bytes.AsSpan(0, length), out _, out _, out var early);
            Assert.NotEqual(ProxyParseStatus.Complete, status);
            Assert.True(!rejected || (status == ProxyParseStatus.Invalid && early == reason), $"{length} bytes gave {status} {early}");
            rejected = status == ProxyParseStatus.Invalid;
        }
    }

    [Theory]
    [InlineData("PROXY X", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY TCP5", nameof(ProxyHeaderError.UnsupportedFamily))]
    [InlineData("PROXY TCP4 ::", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4x", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4 ", nameof(ProxyHeaderError.None))]
    [InlineData("PROXY TCP4 1234567890123456", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP6 ::z", nameof(ProxyHeaderError.InvalidAddress))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 ", nameof(ProxyHeaderError.None))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 0", nameof(ProxyHeaderError.None))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 00", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536", nameof(ProxyHeaderError.InvalidPort))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", nameof(ProxyHeaderError.Malformed))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", nameof(ProxyHeaderError.None))]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", nameof(ProxyHeaderError.InvalidPort))]
    public void A_v1_line_is_rejected_as_soon_as_what_arrived_cannot_become_valid(string prefix, string reasonName)
    {
        var reason = Enum.Parse<ProxyHeaderError>(reasonName);
        var status = Parse(V1(prefix), out _, out _, out var error);
        Assert.Equal(reason == ProxyHeaderError.None ? ProxyParseStatus.Incomplete : ProxyParseStatus.Invalid, status);
        Assert.Equal(reason, error);
    }

    [Fact]
    public void A_v1_line_without_CRLF_in_107_bytes_is_too_long()
    {
        var line = V1("PROXY UNKNOWN " + new string('x', 92) + "\r\n");
        Assert.Equal(ProxyParseStatus.Incomplete, Parse(line.AsSpan(0, 106), out _, out _, out _));
        Assert.Equal(ProxyParseStatus.Invalid, Parse(line.AsSpan(0, 107), out _, out _, out var error));
        Assert.Equal(ProxyHeaderError.TooLong, error);
        Assert.Equal(ProxyParseStatus.Invalid, Parse(line, out _, out _, out error));
        Assert.Equal(ProxyHeaderError.TooLong, error);
    }

    /// <summary>Each v2 fault, with the fewest bytes that prove it: the parser must not wait for more.</summary>
    public static TheoryData<string, byte[], int, string> InvalidV2 => new()
    {
        { "version 1", V2(0x11, 0x11, new byte[12]), 13, nameof(ProxyHeaderError.UnsupportedVersion) },
        { "version 3", V2(0x31, 0x11, new byte[12]), 13, nameof(ProxyHeaderError.UnsupportedVersion) },
        { "command 2", V2(0x22, 0x11, new byte[12]), 13, nameof(ProxyHeaderError.UnsupportedCommand) },
        { "command 15", V2(0x2F, 0x00), 13, nameof(ProxyHeaderError.UnsupportedCommand) },
        { "family 4", V2(0x21, 0x41, new byte[12]), 14, nameof(ProxyHeaderError.UnsupportedFamily) },
        { "transport 3", V2(0x21, 0x13, new byte[12]), 14, nameof(ProxyHeaderError.UnsupportedTransport) },
        { "INET block short", V2(0x21, 0x11, new byte[11]), 16, nameof(ProxyHeaderError.AddressBlockTooShort) },
        { "INET6 block short", V2(0x21, 0x21, new byte[35]), 16, nameof(ProxyHeaderError.AddressBlockTooShort) },
        { "UNIX block short", V2(0x21, 0x31, new byte[215]), 16, nameof(ProxyHeaderError.AddressBlockTooShort) },
        { "above bound", V2(0x21, 0x11, new byte[MaxLength - 15]), 16, nameof(ProxyHeaderError.TooLong) },
        { "LOCAL above bound", V2(0x20, 0x00, new byte[MaxLength - 15]), 16, nameof(ProxyHeaderError.TooLong) },
        { "TLV past the end", V2(0x21, 0x11, Concat(new byte[12], [0x01, 0x00, 0x02, 0xAA])), 31, nameof(ProxyHeaderError.Malformed) },
        { "second TLV past the end", V2(0x21, 0x11, Concat(new byte[12], Tlvs((0x04, [])), [0x01, 0xFF, 0xFF, 0xAA])), 34, nameof(ProxyHeaderError.Malformed) },
        { "one byte after TLVs", V2(0x21, 0x11, Concat(new byte[12], Tlvs((0x04, [9])), [0x05])), 31, nameof(ProxyHeaderError.Malformed) },
        { "two bytes after the addresses", V2(0x21, 0x21, Concat(new byte[36], [0x05, 0x00])), 16, nameof(ProxyHeaderError.Malformed) },
    };

    [Theory]
    [MemberData(nameof(InvalidV2))]
    public void An_invalid_v2_header_is_rejected_for_its_reason_as_soon_as_it_shows(string name, byte[] header, int provenAt, string reasonName)
    {
        var reason = Enum.Parse<ProxyHeaderError>(reasonName);
        for (var length = 0; length <= header.Length; length++)
        {
            var status = Parse(header.AsSpan(0, length), out _, out var consumed, out var error);
            var expected = length >= provenAt ? (ProxyParseStatus.Invalid, reason) : (ProxyParseStatus.Incomplete, ProxyHeaderError.None);
            Assert.True(expected == (status, error), $"{name}: {length} bytes gave {status} {error}");
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void The_v2_bound_counts_the_fixed_part()
    {
        var header = V2(0x20, 0x00, new byte[100]);
        Assert.Equal(ProxyParseStatus.Complete, ProxyHeaderParser.TryParse(header, 116, out _, out _, out _));
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeaderParser.TryParse(header, 115, out _, out _, out var error));
        Assert.Equal(ProxyHeaderError.TooLong, error);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyHeaderParser.TryParse(header, 15, out _, out _, out _));
    }

    [Fact]
    public void Incomplete_and_invalid_parses_allocate_nothing()
    {
        byte[][] inputs =
        [
            V1("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535"),
            V1("PROXY TCP6 2001:db8::1 1::2::3 1 2\r\n"),
            V1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 \r\n"),
            V1("PROXY UNKNOWN " + new string('x', 100)),
            "GET / HTTP/1.1\r\n"u8.ToArray(),
            V2Proxy(Source6, Destination6, (0x01, new byte[20]))[..^1],
            V2(0x21, 0x11, Concat(new byte[12], [0x01, 0x00, 0x02, 0xAA])),
            V2(0x2F, 0x11),
        ];
        foreach (var input in inputs)
        {
            Assert.NotEqual(ProxyParseStatus.Complete, Parse(input, out _, out _, out _));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            Parse(inputs[i % inputs.Length], out _, out _, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
