using System.Diagnostics.CodeAnalysis;
using System.Net;
using EchoKit.Shared;

namespace EchoKit.Cli;

/// <summary>
/// How <c>echokit proxy</c> and its Toxiproxy-compatible API read and print a proxy's addresses: where it listens
/// (the endpoint grammar of <c>serve</c>: <c>127.0.0.1:16379</c>, <c>localhost:0</c>, <c>[::1]:0</c>, <c>unix:/path</c>)
/// and its upstream (<c>HOST:PORT</c>, a host name allowed, or <c>unix:/path</c>).
/// </summary>
internal static class ProxyAddresses
{
    private const string UnixPrefix = "unix:";

    /// <summary>A listening endpoint, as <c>serve</c>'s <c>--tcp</c> reads one (a port alone means every interface).</summary>
    public static bool TryParseListen(string text, [NotNullWhen(true)] out EndPoint? value, out ValueError error)
    {
        if (!ValueGrammar.TryParseEndPoint(text, allowUnix: true, out value, out error))
        {
            error = error with { What = "a listen address", Hint = "write 127.0.0.1:16379, localhost:0 (port 0 picks one), [::1]:16379 or unix:/path/to/socket" };
            return false;
        }

        return true;
    }

    /// <summary>
    /// The server a proxy relays to: an IP literal and port (<see cref="IPEndPoint"/>), a host name and port
    /// (<see cref="DnsEndPoint"/>, resolved for each connection), or <c>unix:/path</c>. The port must not be 0.
    /// </summary>
    public static bool TryParseUpstream(string text, [NotNullWhen(true)] out EndPoint? value, out ValueError error)
    {
        value = null;
        error = new ValueError("an upstream address", "write HOST:PORT, such as 127.0.0.1:6379, [::1]:6379 or redis.internal:6379, or unix:/path/to/socket");
        var trimmed = text.Trim();
        if (trimmed.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            if (!ValueGrammar.TryParseUnixPath(trimmed[UnixPrefix.Length..], out var unix, out var unixProblem))
            {
                error = error with { Detail = unixProblem };
                return false;
            }

            value = unix;
            return true;
        }

        if (!ValueGrammar.TrySplitHostPort(trimmed, out var host, out var portText) || host.Length == 0 || host == "*")
        {
            return false;
        }

        if (!ValueGrammar.TryParsePort(portText, out var port, out var problem) || port == 0)
        {
            error = error with { Detail = problem ?? "the port must be between 1 and 65535" };
            return false;
        }

        value = IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);
        return true;
    }

    /// <summary>
    /// An endpoint as Toxiproxy prints a listen address: <c>127.0.0.1:16379</c>, <c>[::1]:16379</c>, and here also
    /// <c>unix:/path</c>.
    /// </summary>
    public static string Format(EndPoint endPoint) => endPoint is DnsEndPoint dns
        ? $"{(dns.Host.Contains(':', StringComparison.Ordinal) ? $"[{dns.Host}]" : dns.Host)}:{dns.Port}"
        : ValueGrammar.FormatEndPoint(endPoint);

    /// <summary>Whether <paramref name="asked"/> names the endpoint a proxy is bound to (so an update that repeats it changes nothing).</summary>
    public static bool SameListen(EndPoint asked, EndPoint bound) => asked switch
    {
        // Port 0 asks for a new port, as in Toxiproxy, where "127.0.0.1:0" differs from the address it printed.
        IPEndPoint ip => bound is IPEndPoint b && ip.Port == b.Port && ip.Address.Equals(b.Address),
        _ => string.Equals(Format(asked), Format(bound), StringComparison.Ordinal),
    };
}
