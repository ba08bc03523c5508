using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;

namespace EchoKit.Shared;

/// <summary>
/// The one way option values are written, read and printed, wherever they come from: <c>echokit</c> flags, the
/// configuration keys of EchoKit.Hosting and (later) fault rules. This file is linked into each assembly that needs
/// it (see docs/HOSTING.md, "One grammar, one description per option"), so it stays internal and no assembly opens its internals to another.
/// </summary>
/// <remarks>
/// Every reader accepts what either the flags or the configuration keys accepted before the two were merged, so no
/// value that worked stops working. A reader checks the form only; ranges (greater than zero, 64 bytes to 16 MiB)
/// are the options' own rules, in <c>EchoServerOptions.Validate</c>. A failed read gives a <see cref="ValueError"/>:
/// the same words whether a flag or a configuration key carried the value.
/// </remarks>
internal static class ValueGrammar
{
    /// <summary>Words that turn an optional limit or timeout off; configuration also takes the empty string.</summary>
    public static readonly IReadOnlyList<string> OffWords = ["off", "none", "never"];

    /// <summary>What the formatters print for a limit that is off.</summary>
    public const string Off = "off";

    /// <summary>What the formatters print for an empty list; read back, it is one (as <c>[]</c> or an empty string is).</summary>
    public const string EmptyList = "none";

    /// <summary>The <see cref="ValueError.Detail"/> of a Unix socket where only IP endpoints are taken; the caller names the options involved.</summary>
    public const string IPEndPointsOnly = "IP endpoints only";

    /// <summary>Reads a value; on failure <paramref name="error"/> says what the text should have been.</summary>
    public delegate bool Reader<T>(string text, out T value, out ValueError error);

    /// <summary>Whether <paramref name="text"/> turns a limit off: empty, <c>off</c>, <c>none</c> or <c>never</c> (any case).</summary>
    public static bool IsOff(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length == 0 || OffWords.Contains(trimmed, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A duration: seconds (<c>5</c>, <c>0.5</c>), a number with a unit (<c>250ms</c>, <c>1.5s</c>, <c>5m</c>,
    /// <c>5min</c>, <c>1h</c>), or a time span <c>[d.]hh:mm:ss[.fffffff]</c> (<c>00:00:30</c>). Never negative.
    /// </summary>
    public static bool TryParseDuration(string text, out TimeSpan value, out ValueError error)
    {
        value = default;
        error = Duration;
        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal))
        {
            if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value))
            {
                return false;
            }
        }
        else
        {
            var (number, unitSeconds) = SplitUnit(text, DurationUnits);
            if (unitSeconds == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
                || double.IsNaN(amount) || double.IsInfinity(amount) || Math.Abs(amount * unitSeconds) > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                return false;
            }

            value = TimeSpan.FromSeconds(amount * unitSeconds);
        }

        if (value < TimeSpan.Zero)
        {
            error = Duration with { Detail = "a duration cannot be negative" };
            return false;
        }

        return true;
    }

    /// <summary>
    /// A size in bytes: <c>4096</c>, or a number with a binary unit: <c>b</c>, <c>k</c>/<c>KB</c>/<c>KiB</c>,
    /// <c>m</c>/<c>MB</c>/<c>MiB</c>, <c>g</c>/<c>GB</c>/<c>GiB</c> (any case); a whole number of bytes, never negative.
    /// </summary>
    public static bool TryParseSize(string text, out long value, out ValueError error)
    {
        value = 0;
        error = Size;
        var (number, unit) = SplitUnit(text.Trim(), SizeUnits);
        if (unit == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
            || double.IsNaN(amount) || amount < 0 || amount * unit > long.MaxValue / 2)
        {
            return false;
        }

        var bytes = amount * unit;
        if (bytes != Math.Floor(bytes))
        {
            error = Size with { Detail = "a size must be a whole number of bytes" };
            return false;
        }

        value = (long)bytes;
        return true;
    }

    /// <summary>A size as <see cref="TryParseSize"/> that fits an <see cref="int"/> (below 2 GiB).</summary>
    public static bool TryParseInt32Size(string text, out int value, out ValueError error)
    {
        value = 0;
        if (!TryParseSize(text, out var size, out error))
        {
            return false;
        }

        if (size > int.MaxValue)
        {
            error = Size with { Detail = "the size must be below 2 GiB" };
            return false;
        }

        value = (int)size;
        return true;
    }

    /// <summary>A whole number (invariant culture, optional sign) that fits an <see cref="int"/>.</summary>
    public static bool TryParseInt32(string text, out int value, out ValueError error)
    {
        error = WholeNumber;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }

    /// <summary><c>true</c> or <c>false</c>, any case.</summary>
    public static bool TryParseBoolean(string text, out bool value, out ValueError error)
    {
        error = Boolean;
        return bool.TryParse(text, out value);
    }

    /// <summary>
    /// TLS protocol names such as <c>Tls12, Tls13</c> (any case, separated by commas), or <c>None</c> to let the
    /// operating system choose. Numbers are refused: <see cref="Enum.TryParse{TEnum}(string, bool, out TEnum)"/> would take any.
    /// </summary>
    public static bool TryParseSslProtocols(string text, out SslProtocols value, out ValueError error)
    {
        error = SslProtocolNames;
        value = SslProtocols.None;
        foreach (var name in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (name.Length == 0 || !char.IsAsciiLetter(name[0]) || !Enum.TryParse<SslProtocols>(name, ignoreCase: true, out var protocol))
            {
                value = SslProtocols.None;
                return false;
            }

            value |= protocol;
        }

        return true;
    }

    /// <summary>A reader of <paramref name="read"/>'s form, or <c>off</c>/empty (<see langword="null"/>).</summary>
    public static Reader<T?> Optional<T>(Reader<T> read)
        where T : struct =>
        (string text, out T? value, out ValueError error) =>
        {
            value = null;
            if (IsOff(text))
            {
                error = default;
                return true;
            }

            var parsed = read(text, out var inner, out error);
            error = error with { What = error.What + ", or off to turn it off" };
            value = parsed ? inner : null;
            return parsed;
        };

    /// <summary>
    /// A listening endpoint: a port alone (<c>7007</c>) or <c>*:7007</c> for every interface (IPv6 any, dual mode,
    /// where the system has IPv6; else IPv4 any; <c>:7007</c> too), <c>localhost:7007</c> (127.0.0.1), <c>127.0.0.1:7007</c>,
    /// <c>[::1]:7007</c>; port 0 picks a free port. With <paramref name="allowUnix"/>, also <c>unix:/path/to/socket</c>.
    /// The port is required: <c>127.0.0.1</c> alone would otherwise silently pick a random one.
    /// </summary>
    public static bool TryParseEndPoint(string text, bool allowUnix, [NotNullWhen(true)] out EndPoint? value, out ValueError error)
    {
        value = null;
        error = allowUnix ? StreamEndPoint : IPEndPointOnly;
        text = text.Trim();
        if (text.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            if (!allowUnix)
            {
                error = error with { Detail = IPEndPointsOnly };
                return false;
            }

            if (!TryParseUnixPath(text[UnixPrefix.Length..], out var unix, out var problem))
            {
                error = error with { Detail = problem };
                return false;
            }

            value = unix;
            return true;
        }

        string host, portText;
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
        {
            (host, portText) = ("*", text);
        }
        else if (!TrySplitHostPort(text, out host, out portText))
        {
            return false;
        }

        if (!TryParsePort(portText, out var port, out var portProblem))
        {
            error = error with { Detail = portProblem };
            return false;
        }

        IPAddress? address = host switch
        {
            "*" or "" => Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any,
            _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : null,
        };
        if (address is null)
        {
            error = error with { Detail = $"'{host}' is not an IP address; write one such as 127.0.0.1, ::1 or 0.0.0.0, or * for every interface" };
            return false;
        }

        value = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>
    /// The server a proxy relays to: <c>127.0.0.1:6379</c> or <c>[::1]:6379</c> (an <see cref="IPEndPoint"/>), a host
    /// name and port, <c>redis.local:6379</c> or <c>localhost:6379</c> (a <see cref="DnsEndPoint"/>, resolved for each
    /// connection), or <c>unix:/path/to/socket</c>. Unlike a listening endpoint, the host and a port from 1 to 65535
    /// are required: there is no "every interface" or "any port" to connect to.
    /// </summary>
    public static bool TryParseUpstream(string text, [NotNullWhen(true)] out EndPoint? value, out ValueError error)
    {
        value = null;
        error = Upstream;
        text = text.Trim();
        if (text.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            if (!TryParseUnixPath(text[UnixPrefix.Length..], out var unix, out var problem))
            {
                error = error with { Detail = problem };
                return false;
            }

            value = unix;
            return true;
        }

        if (!TrySplitHostPort(text, out var host, out var portText) || host.Length == 0 || host == "*")
        {
            return false;
        }

        if (!TryParsePort(portText, out var port, out var portProblem) || port == 0)
        {
            error = error with { Detail = portProblem ?? "port 0 is for listening; an upstream needs its real port, 1 to 65535" };
            return false;
        }

        if (IPAddress.TryParse(host, out var address))
        {
            value = new IPEndPoint(address, port);
            return true;
        }

        // A bracketed host is an IPv6 literal; anything else must at least be a well-formed DNS name.
        if (text.StartsWith('[') || Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            error = error with { Detail = $"'{host}' is neither an IP address nor a host name" };
            return false;
        }

        value = new DnsEndPoint(host, port);
        return true;
    }

    /// <summary>A Unix domain socket path (without <c>unix:</c>), checked for the platform's length limit.</summary>
    public static bool TryParseUnixPath(string text, [NotNullWhen(true)] out UnixDomainSocketEndPoint? value, out string? problem)
    {
        value = null;
        problem = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "a unix: endpoint needs a socket path, such as unix:/tmp/echo.sock";
            return false;
        }

        try
        {
            value = new UnixDomainSocketEndPoint(text);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or PlatformNotSupportedException)
        {
            problem = ex.Message;
            return false;
        }
    }

    /// <summary>The items of a list written as one string (an environment variable, a flag): separated by <c>;</c> or <c>,</c>.</summary>
    public static string[] SplitList(string text) =>
        text.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The shortest exact form <see cref="TryParseDuration"/> reads back: <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>250ms</c>, <c>1.5s</c>.</summary>
    public static string FormatDuration(TimeSpan value)
    {
        if (value.Ticks % TimeSpan.TicksPerMillisecond != 0 || value < TimeSpan.Zero)
        {
            return value.ToString("c", CultureInfo.InvariantCulture);
        }

        var milliseconds = (long)value.TotalMilliseconds;
        return milliseconds switch
        {
            0 => "0s",
            _ when milliseconds % 3_600_000 == 0 => Invariant($"{milliseconds / 3_600_000}h"),
            _ when milliseconds % 60_000 == 0 => Invariant($"{milliseconds / 60_000}m"),
            _ when milliseconds % 1000 == 0 => Invariant($"{milliseconds / 1000}s"),
            < 1000 => Invariant($"{milliseconds}ms"),
            _ => Invariant($"{milliseconds / 1000.0}s"),
        };
    }

    /// <summary>A size in the largest binary unit that divides it (<c>64KiB</c>, <c>1GiB</c>), else in bytes (<c>65507</c>).</summary>
    public static string FormatSize(long value) => value switch
    {
        0 => "0",
        _ when value % (1L << 30) == 0 => Invariant($"{value >> 30}GiB"),
        _ when value % (1L << 20) == 0 => Invariant($"{value >> 20}MiB"),
        _ when value % (1L << 10) == 0 => Invariant($"{value >> 10}KiB"),
        _ => Invariant($"{value}"),
    };

    /// <summary>A whole number in invariant form, without group separators.</summary>
    public static string FormatNumber(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary><c>true</c> or <c>false</c>.</summary>
    public static string FormatBoolean(bool value) => value ? "true" : "false";

    /// <summary>Protocol names separated by commas (<c>Tls12, Tls13</c>), or <c>None</c>.</summary>
    public static string FormatSslProtocols(SslProtocols value) => value.ToString();

    /// <summary>An endpoint as <see cref="TryParseEndPoint"/> reads it back: <c>127.0.0.1:7007</c>, <c>[::1]:7007</c>, <c>unix:/tmp/echo.sock</c>.</summary>
    public static string FormatEndPoint(EndPoint value) =>
        value is UnixDomainSocketEndPoint ? UnixPrefix + value : value.ToString() ?? "";

    /// <summary><paramref name="format"/>'s form of a value, or <see cref="Off"/>.</summary>
    public static string FormatOptional<T>(T? value, Func<T, string> format)
        where T : struct => value is { } set ? format(set) : Off;

    /// <summary>The items separated by commas, or <see cref="EmptyList"/>.</summary>
    public static string FormatList<T>(IEnumerable<T> items, Func<T, string> format)
    {
        var text = string.Join(",", items.Select(format));
        return text.Length == 0 ? EmptyList : text;
    }

    private const string UnixPrefix = "unix:";

    private const string IPEndPointHint = "write an IP address and port such as 127.0.0.1:7007, [::1]:7007 or 0.0.0.0:0 (port 0 picks a free port)";

    private static readonly ValueError Duration = new("a time span", "write 30s, 5m, 1.5s, 250ms or 00:05:00 (a bare number is seconds)");

    private static readonly ValueError Size = new("a size", "write bytes (65536) or a number with a binary unit (4k, 64KiB, 1m, 1g)");

    private static readonly ValueError WholeNumber = new("a whole number");

    private static readonly ValueError Boolean = new("true or false");

    private static readonly ValueError SslProtocolNames = new("TLS protocol names separated by commas, such as Tls12, Tls13, or None to let the operating system choose");

    private static readonly ValueError IPEndPointOnly = new("a valid endpoint", IPEndPointHint);

    private static readonly ValueError StreamEndPoint = new("a valid endpoint", IPEndPointHint + ", or unix:/path/to/socket");

    private static readonly ValueError Upstream = new("an upstream endpoint", "write a host and port such as 127.0.0.1:6379, [::1]:6379 or redis.local:6379, or unix:/path/to/socket");

    private static readonly (string Unit, double Multiplier)[] DurationUnits = [("ms", 0.001), ("s", 1), ("m", 60), ("min", 60), ("h", 3600)];

    private static readonly (string Unit, double Multiplier)[] SizeUnits =
    [
        ("b", 1), ("k", 1024), ("kb", 1024), ("kib", 1024), ("m", 1 << 20), ("mb", 1 << 20), ("mib", 1 << 20),
        ("g", 1 << 30), ("gb", 1 << 30), ("gib", 1 << 30),
    ];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>A port, 0 to 65535, digits only.</summary>
    public static bool TryParsePort(string text, out int port, [NotNullWhen(false)] out string? problem)
    {
        problem = null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= IPEndPoint.MinPort and <= IPEndPoint.MaxPort)
        {
            return true;
        }

        problem = $"'{text}' is not a port; a port is a number from 0 to 65535";
        return false;
    }

    /// <summary>Splits <c>host:port</c> or <c>[v6]:port</c> (the host may be empty); a bare IPv6 address without brackets is refused as ambiguous.</summary>
    public static bool TrySplitHostPort(string text, out string host, out string port)
    {
        host = port = "";
        if (text.StartsWith('['))
        {
            var close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            port = text[(close + 2)..];
            return host.Length > 0 && !host.Contains('[', StringComparison.Ordinal);
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || colon != text.LastIndexOf(':'))
        {
            return false;
        }

        host = text[..colon];
        port = text[(colon + 1)..];
        return true;
    }

    /// <summary>Splits a trailing unit off a number; no unit means a multiplier of 1, an unknown unit 0.</summary>
    private static (string Number, double Multiplier) SplitUnit(string text, (string Unit, double Multiplier)[] units)
    {
        var end = text.Length;
        while (end > 0 && char.IsAsciiLetter(text[end - 1]))
        {
            end--;
        }

        var unit = text[end..].Trim();
        var number = text[..end].Trim();
        if (unit.Length == 0)
        {
            return (number, 1);
        }

        foreach (var (name, multiplier) in units)
        {
            if (string.Equals(name, unit, StringComparison.OrdinalIgnoreCase))
            {
                return (number, multiplier);
            }
        }

        return (number, 0);
    }
}

/// <summary>
/// Why a text is not a value: what it should be (<see cref="What"/>, read after "is not"), how to write one
/// (<see cref="Hint"/>) and, when known, what exactly is wrong (<see cref="Detail"/>).
/// </summary>
internal readonly record struct ValueError(string What, string? Hint = null, string? Detail = null)
{
    /// <summary>The error against a configuration key: <c>EchoServer:MaxConnections: 'lots' is not a whole number.</c></summary>
    public string ForKey(string key, string text) =>
        $"{key}: '{text}' is not {What}{(Detail is null ? "" : $" ({Detail})")}{(Hint is null ? "" : "; " + Hint)}.";

    /// <summary>The error against a flag, in System.CommandLine's words: <c>Invalid value 'lots' for --max-connections: not a whole number.</c></summary>
    public string ForFlag(string flag, string text) =>
        $"Invalid value '{text}' for {flag}: {Detail ?? "not " + What}{(Hint is null ? "" : "; " + Hint)}.";
}
