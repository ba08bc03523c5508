using System.Buffers;
using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// Version 1: <c>PROXY TCP4|TCP6 src dst sport dport\r\n</c> or <c>PROXY UNKNOWN ...\r\n</c>, read strictly (single
/// spaces, canonical addresses, ports without sign or leading zero). Addresses are parsed here rather than with
/// <see cref="IPAddress.TryParse(ReadOnlySpan{byte}, out IPAddress?)"/>: that allocates an address for each success, so
/// a line whose source parses and destination does not would allocate on the way to being rejected, and it accepts
/// forms the spec forbids (<c>127.1</c>, octal <c>010.0.0.1</c>, scope ids, brackets).
/// </summary>
internal static partial class ProxyHeaderParser
{
    private const int IPv4TextMax = 15;
    private const int IPv6TextMax = 45;
    private const int PortTextMax = 5;
    private const int SourcePortField = 3;
    private const int LastField = 4;

    private static readonly SearchValues<byte> IPv4Text = SearchValues.Create("0123456789."u8);
    private static readonly SearchValues<byte> IPv6Text = SearchValues.Create("0123456789abcdefABCDEF:."u8);

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    private static ProxyParseStatus ParseV1(ReadOnlySpan<byte> received, ref ProxyHeader header, ref int consumed, ref ProxyHeaderError error)
    {
        var window = received[..Math.Min(received.Length, V1MaxLength)];
        var seen = Math.Min(window.Length, V1Prefix.Length);
        if (!window[..seen].SequenceEqual(V1Prefix[..seen]))
        {
            return Fail(ProxyHeaderError.NoHeader, ref error);
        }

        if (window.Length == seen)
        {
            return ProxyParseStatus.Incomplete;
        }

        var lf = window.IndexOf((byte)'\n');
        var complete = lf >= 0 && window[lf - 1] == '\r';
        ReadOnlySpan<byte> line;
        if (complete)
        {
            line = window[V1Prefix.Length..(lf - 1)];
        }
        else
        {
            // A CR as the last byte received may be the start of the CRLF. A bare LF ends the line as Malformed, but
            // only after the fields before it are judged as they were before it arrived, so the reason never changes.
            line = lf >= 0 ? window[V1Prefix.Length..lf] : window[V1Prefix.Length..];
            line = lf < 0 && line[^1] == '\r' ? line[..^1] : line;
        }

        Span<byte> source = stackalloc byte[16];
        Span<byte> destination = stackalloc byte[16];
        var status = ParseV1Fields(line, complete, source, destination, out var family, out var ports, ref error);
        if (status == ProxyParseStatus.Invalid)
        {
            return status;
        }

        if (lf >= 0 && !complete)
        {
            return Fail(ProxyHeaderError.Malformed, ref error);
        }

        if (!complete)
        {
            return window.Length == V1MaxLength ? Fail(ProxyHeaderError.TooLong, ref error) : ProxyParseStatus.Incomplete;
        }

        IPEndPoint? sourceEndPoint = null, destinationEndPoint = null;
        var transport = ProxyTransport.Unspecified;
        if (family != ProxyFamily.Unspecified)
        {
            var size = family == ProxyFamily.Inet ? 4 : 16;
            sourceEndPoint = new IPEndPoint(new IPAddress(source[..size]), ports.Source);
            destinationEndPoint = new IPEndPoint(new IPAddress(destination[..size]), ports.Destination);
            transport = ProxyTransport.Stream;
        }

        header = new ProxyHeader(1, ProxyCommand.Proxy, family, transport, sourceEndPoint, destinationEndPoint);
        consumed = lf + 1;
        return ProxyParseStatus.Complete;
    }

    /// <summary>
    /// Reads the fields after <c>PROXY </c>. A field cut off by the end of what has arrived (<paramref name="complete"/>
    /// false) is only checked as a prefix (a port fully, an address for its alphabet and length) and gives Incomplete; a
    /// whole field is checked fully. Complete here means every field that has arrived is valid.
    /// </summary>
    private static ProxyParseStatus ParseV1Fields(ReadOnlySpan<byte> line, bool complete, Span<byte> source, Span<byte> destination, out ProxyFamily family, out (int Source, int Destination) ports, ref ProxyHeaderError error)
    {
        family = ProxyFamily.Unspecified;
        ports = default;
        for (var field = 0; ; field++)
        {
            var space = line.IndexOf((byte)' ');
            var token = space < 0 ? line : line[..space];
            if (space < 0 && !complete)
            {
                return IsFieldPrefix(field, family, token) ? ProxyParseStatus.Incomplete : Fail(FieldError(field), ref error);
            }

            if (token.IsEmpty)
            {
                return Fail(ProxyHeaderError.Malformed, ref error);
            }

            var valid = field switch
            {
                0 => TryParseProtocol(token, out family),
                1 => TryParseAddress(token, family, source),
                2 => TryParseAddress(token, family, destination),
                SourcePortField => TryParsePort(token, out ports.Source),
                _ => TryParsePort(token, out ports.Destination),
            };
            if (!valid)
            {
                return Fail(FieldError(field), ref error);
            }

            // UNKNOWN ignores the rest of the line.
            if (field == 0 && family == ProxyFamily.Unspecified)
            {
                return ProxyParseStatus.Complete;
            }

            if ((field == LastField) != (space < 0))
            {
                return Fail(ProxyHeaderError.Malformed, ref error);
            }

            if (field == LastField)
            {
                return ProxyParseStatus.Complete;
            }

            line = line[(space + 1)..];
        }
    }

    private static ProxyHeaderError FieldError(int field) => field switch
    {
        0 => ProxyHeaderError.UnsupportedFamily,
        < SourcePortField => ProxyHeaderError.InvalidAddress,
        _ => ProxyHeaderError.InvalidPort,
    };

    private static bool IsFieldPrefix(int field, ProxyFamily family, ReadOnlySpan<byte> token)
    {
        if (field == 0)
        {
            return "TCP4"u8.StartsWith(token) || "TCP6"u8.StartsWith(token) || "UNKNOWN"u8.StartsWith(token);
        }

        if (field >= SourcePortField)
        {
            // A port's prefix is a port, or empty.
            return token.IsEmpty || TryParsePort(token, out _);
        }

        return family == ProxyFamily.Inet
            ? token.Length <= IPv4TextMax && !token.ContainsAnyExcept(IPv4Text)
            : token.Length <= IPv6TextMax && !token.ContainsAnyExcept(IPv6Text);
    }

    private static bool TryParseProtocol(ReadOnlySpan<byte> token, out ProxyFamily family)
    {
        family = token.SequenceEqual("TCP4"u8) ? ProxyFamily.Inet : token.SequenceEqual("TCP6"u8) ? ProxyFamily.Inet6 : ProxyFamily.Unspecified;
        return family != ProxyFamily.Unspecified || token.SequenceEqual("UNKNOWN"u8);
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> token, ProxyFamily family, Span<byte> address) =>
        family == ProxyFamily.Inet ? TryParseIPv4(token, address) : TryParseIPv6(token, address);

    /// <summary>Decimal 0-65535, no sign, no leading zero (the spec forbids them to avoid octal confusion).</summary>
    private static bool TryParsePort(ReadOnlySpan<byte> token, out int port)
    {
        port = 0;
        if (token.IsEmpty || token.Length > PortTextMax || (token[0] == '0' && token.Length > 1))
        {
            return false;
        }

        foreach (var c in token)
        {
            if (!char.IsAsciiDigit((char)c))
            {
                return false;
            }

            port = (port * 10) + (c - '0');
        }

        return port <= IPEndPoint.MaxPort;
    }
}
