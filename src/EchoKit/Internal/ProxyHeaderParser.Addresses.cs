using System.Buffers.Binary;

namespace EchoKit.Internal;

/// <summary>The v1 address forms the spec allows, parsed into bytes so nothing is allocated before the line is known valid.</summary>
internal static partial class ProxyHeaderParser
{
    private const int IPv6Groups = 8;

    /// <summary>Exactly four decimal numbers 0-255 separated by single dots, no leading zeros.</summary>
    private static bool TryParseIPv4(ReadOnlySpan<byte> text, Span<byte> address)
    {
        for (var part = 0; part < 4; part++)
        {
            var dot = text.IndexOf((byte)'.');
            if ((dot < 0) != (part == 3))
            {
                return false;
            }

            var number = dot < 0 ? text : text[..dot];
            if (number.IsEmpty || number.Length > 3 || (number[0] == '0' && number.Length > 1) || number.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            {
                return false;
            }

            var value = 0;
            foreach (var digit in number)
            {
                value = (value * 10) + (digit - '0');
            }

            if (value > byte.MaxValue)
            {
                return false;
            }

            address[part] = (byte)value;
            text = dot < 0 ? default : text[(dot + 1)..];
        }

        return true;
    }

    /// <summary>
    /// Eight groups of 1-4 hex digits separated by colons; one <c>::</c> may stand for one or more zero groups, and the
    /// last two groups may be written as dotted IPv4 (how IPv4-mapped addresses are printed).
    /// </summary>
    private static bool TryParseIPv6(ReadOnlySpan<byte> text, Span<byte> address)
    {
        address[..16].Clear();
        var groups = 0;
        var gap = -1;
        if (text.StartsWith("::"u8))
        {
            gap = 0;
            text = text[2..];
        }

        while (!text.IsEmpty)
        {
            var colon = text.IndexOf((byte)':');
            var group = colon < 0 ? text : text[..colon];
            if (colon < 0 && group.Contains((byte)'.'))
            {
                if (groups > IPv6Groups - 2 || !TryParseIPv4(group, address.Slice(groups * 2, 4)))
                {
                    return false;
                }

                groups += 2;
                break;
            }

            if (groups == IPv6Groups || !TryParseHexGroup(group, out var value))
            {
                return false;
            }

            BinaryPrimitives.WriteUInt16BigEndian(address[(groups * 2)..], value);
            groups++;
            if (colon < 0)
            {
                break;
            }

            text = text[(colon + 1)..];
            if (text.IsEmpty)
            {
                return false;
            }

            if (text[0] == ':')
            {
                if (gap >= 0)
                {
                    return false;
                }

                gap = groups;
                text = text[1..];
            }
        }

        if (gap < 0)
        {
            return groups == IPv6Groups;
        }

        if (groups == IPv6Groups)
        {
            return false;
        }

        // Move the groups after the gap to the end; what they leave behind is the gap's zeros.
        var tail = (groups - gap) * 2;
        var tailStart = IPv6Groups * 2 - tail;
        address.Slice(gap * 2, tail).CopyTo(address[tailStart..]);
        address[(gap * 2)..tailStart].Clear();
        return true;
    }

    private static bool TryParseHexGroup(ReadOnlySpan<byte> group, out ushort value)
    {
        value = 0;
        if (group.IsEmpty || group.Length > 4)
        {
            return false;
        }

        foreach (var c in group)
        {
            var digit = HexDigit(c);
            if (digit < 0)
            {
                return false;
            }

            value = (ushort)((value << 4) | digit);
        }

        return true;
    }

    private static int HexDigit(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}
