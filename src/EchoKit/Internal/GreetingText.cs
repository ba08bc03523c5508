using System.Net;
using System.Net.Sockets;
using System.Text;
using EchoKit.Shared;

namespace EchoKit.Internal;

/// <summary>
/// <see cref="EchoServerOptions.Greeting"/>'s placeholders: <c>{instance}</c>, <c>{remote}</c>, <c>{local}</c>, expanded
/// in one pass (a name that itself holds <c>{remote}</c> stays as written). Anything else in braces is plain text.
/// </summary>
internal static class GreetingText
{
    public const string Instance = "{instance}";
    public const string Remote = "{remote}";
    public const string Local = "{local}";

    /// <summary>
    /// The longest endpoint text in UTF-8 bytes: <c>unix:</c> and a 108-byte path (sun_path); an IPv6 one is at most
    /// <c>[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535</c>, 53.
    /// </summary>
    public const int LongestEndPoint = 5 + 108;

    /// <summary>The greeting's bytes for one connection.</summary>
    public static byte[] Expand(string template, string instance, EndPoint? local, EndPoint? remote)
    {
        var text = new StringBuilder(template.Length + 64);
        for (var i = 0; i < template.Length;)
        {
            var rest = template.AsSpan(i);
            if (rest.StartsWith(Instance, StringComparison.Ordinal))
            {
                text.Append(instance);
                i += Instance.Length;
            }
            else if (rest.StartsWith(Remote, StringComparison.Ordinal))
            {
                text.Append(Format(remote));
                i += Remote.Length;
            }
            else if (rest.StartsWith(Local, StringComparison.Ordinal))
            {
                text.Append(Format(local));
                i += Local.Length;
            }
            else
            {
                text.Append(template[i++]);
            }
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>The most bytes <paramref name="template"/> can expand to: each endpoint placeholder at its longest.</summary>
    public static long LongestByteCount(string template, string instance)
    {
        long total = 0;
        for (var i = 0; i < template.Length;)
        {
            var rest = template.AsSpan(i);
            if (rest.StartsWith(Instance, StringComparison.Ordinal))
            {
                total += Encoding.UTF8.GetByteCount(instance);
                i += Instance.Length;
            }
            else if (rest.StartsWith(Remote, StringComparison.Ordinal) || rest.StartsWith(Local, StringComparison.Ordinal))
            {
                total += LongestEndPoint;
                i += rest.StartsWith(Remote, StringComparison.Ordinal) ? Remote.Length : Local.Length;
            }
            else
            {
                // At most 3 bytes a char: a surrogate pair is 4 bytes for two, a lone surrogate becomes U+FFFD (3).
                var c = template[i++];
                total += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
            }
        }

        return total;
    }

    /// <summary>As the option grammar writes endpoints; an IPv4 client on a dual-mode socket as IPv4.</summary>
    private static string Format(EndPoint? endPoint) => endPoint switch
    {
        null => "",
        IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => ValueGrammar.FormatEndPoint(new IPEndPoint(ip.Address.MapToIPv4(), ip.Port)),
        UnixDomainSocketEndPoint unix => ValueGrammar.FormatEndPoint(unix),
        _ => ValueGrammar.FormatEndPoint(endPoint),
    };
}
