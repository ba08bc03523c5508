using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Cli;

/// <summary>
/// Parses the values of flags (endpoints, durations, sizes, counts) and builds <see cref="Option{T}"/>s that report a
/// bad value as a parse error naming the flag, so every bad value ends in exit code 2.
/// </summary>
internal static class ValueParsers
{
    /// <summary>Words that turn an optional limit or timeout off.</summary>
    private static readonly string[] OffWords = ["off", "none", "never"];

    public delegate bool TryParse<T>(string text, out T value, out string? problem);

    /// <summary>An option with one value read by <paramref name="tryParse"/>.</summary>
    public static Option<T> NewOption<T>(string name, string helpName, string description, TryParse<T> tryParse, params string[] aliases) =>
        new(name, aliases)
        {
            HelpName = helpName,
            Description = description,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                if (tryParse(text, out var value, out var problem))
                {
                    return value;
                }

                result.AddError($"Invalid value '{text}' for {name}: {problem}");
                return default;
            },
        };

    /// <summary>
    /// An option whose value may be <c>off</c>. System.CommandLine 2.0 cannot carry a null parsed value (reading it
    /// throws <see cref="InvalidCastException"/>), so the value travels in a <see cref="Limit{T}"/>.
    /// </summary>
    public static Option<Limit<T>> NewLimitOption<T>(string name, string helpName, string description, TryParse<T?> tryParse)
        where T : struct =>
        NewOption(name, helpName, description, (string text, out Limit<T> value, out string? problem) =>
        {
            var parsed = tryParse(text, out var limit, out problem);
            value = new Limit<T>(limit);
            return parsed;
        });

    /// <summary>A repeatable option (<c>--tcp 7007 --tcp [::1]:7008</c>) whose every value is read by <paramref name="tryParse"/>.</summary>
    public static Option<List<T>> NewListOption<T>(string name, string helpName, string description, TryParse<T> tryParse) =>
        new(name)
        {
            HelpName = helpName,
            Description = description,
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [],
            CustomParser = result =>
            {
                var values = new List<T>(result.Tokens.Count);
                foreach (var token in result.Tokens)
                {
                    if (tryParse(token.Value, out var value, out var problem))
                    {
                        values.Add(value);
                    }
                    else
                    {
                        result.AddError($"Invalid value '{token.Value}' for {name}: {problem}");
                    }
                }

                return values;
            },
        };

    /// <summary>Whether the user typed the option (as opposed to it taking its default).</summary>
    public static bool IsGiven(this ParseResult parseResult, Option option) =>
        parseResult.GetResult(option) is { Implicit: false };

    /// <summary>
    /// A listening endpoint: <c>7007</c> or <c>*:7007</c> (every interface, IPv4 and IPv6), <c>localhost:7007</c>
    /// (127.0.0.1), <c>127.0.0.1:7007</c>, <c>[::1]:7007</c>, <c>[::]:7007</c>; port 0 picks a free port.
    /// </summary>
    public static bool TryParseListenEndPoint(string text, out IPEndPoint value, out string? problem)
    {
        value = null!;
        text = text.Trim();
        string host, portText;
        if (!text.Contains(':', StringComparison.Ordinal))
        {
            if (!text.All(char.IsAsciiDigit))
            {
                problem = "write a port (7007), or an address and a port (127.0.0.1:7007, [::1]:7007, *:7007)";
                return false;
            }

            (host, portText) = ("*", text);
        }
        else if (!TrySplitHostPort(text, out host, out portText))
        {
            problem = "write a port (7007), or an address and a port (127.0.0.1:7007, [::1]:7007, *:7007)";
            return false;
        }

        if (!TryParsePort(portText, out var port, out problem))
        {
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
            problem = $"'{host}' is not an IP address; write one such as 127.0.0.1, ::1 or 0.0.0.0, or * for every interface";
            return false;
        }

        value = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>
    /// The target of a load: <c>HOST:PORT</c> with an IP address, <c>[IPv6]</c> or a host name, or a bare port
    /// (localhost). Host names are resolved later (<see cref="BenchTarget"/>).
    /// </summary>
    public static bool TryParseTarget(string text, out BenchTarget value, out string? problem)
    {
        value = null!;
        text = text.Trim();
        string host, portText;
        if (!text.Contains(':', StringComparison.Ordinal))
        {
            if (!text.All(char.IsAsciiDigit))
            {
                problem = "write HOST:PORT, such as 127.0.0.1:7007, [::1]:7007 or echo.example.com:7";
                return false;
            }

            (host, portText) = ("localhost", text);
        }
        else if (!TrySplitHostPort(text, out host, out portText) || host.Length == 0)
        {
            problem = "write HOST:PORT, such as 127.0.0.1:7007, [::1]:7007 or echo.example.com:7";
            return false;
        }

        if (!TryParsePort(portText, out var port, out problem))
        {
            return false;
        }

        if (port == 0)
        {
            problem = "the port must be between 1 and 65535";
            return false;
        }

        value = new BenchTarget(host, port);
        return true;
    }

    /// <summary>
    /// A duration: seconds (<c>5</c>, <c>0.5</c>), with a unit (<c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>) or
    /// <c>hh:mm:ss</c> (<c>00:00:30</c>, as in the configuration file).
    /// </summary>
    public static bool TryParseDuration(string text, out TimeSpan value, out string? problem)
    {
        value = default;
        problem = "write seconds (5, 0.5), a number with a unit (500ms, 30s, 5m, 1h) or hh:mm:ss";
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
            var (number, unitSeconds) = SplitUnit(text, [("ms", 0.001), ("s", 1), ("m", 60), ("min", 60), ("h", 3600)]);
            if (unitSeconds == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
                || double.IsNaN(amount) || double.IsInfinity(amount) || amount * unitSeconds > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                return false;
            }

            value = TimeSpan.FromSeconds(amount * unitSeconds);
        }

        if (value < TimeSpan.Zero)
        {
            problem = "a duration cannot be negative";
            return false;
        }

        problem = null;
        return true;
    }

    /// <summary>A duration as <see cref="TryParseDuration"/>, or <c>off</c> (<see langword="null"/>).</summary>
    public static bool TryParseOptionalDuration(string text, out TimeSpan? value, out string? problem)
    {
        value = null;
        if (IsOff(text))
        {
            problem = null;
            return true;
        }

        var parsed = TryParseDuration(text, out var duration, out problem);
        if (parsed && duration == TimeSpan.Zero)
        {
            problem = "write a positive duration, or off";
            return false;
        }

        value = duration;
        if (!parsed)
        {
            problem += ", or off";
        }

        return parsed;
    }

    /// <summary>A size in bytes: <c>4096</c>, or binary units <c>4k</c>/<c>4KiB</c>/<c>4KB</c>, <c>1m</c>/<c>1MiB</c>, <c>1g</c>/<c>1GiB</c>.</summary>
    public static bool TryParseSize(string text, out long value, out string? problem)
    {
        value = 0;
        problem = "write a number of bytes (65536), or one with a binary unit (64k, 64KiB, 1m, 1MiB, 1g)";
        var (number, unit) = SplitUnit(text.Trim(), [("b", 1), ("k", 1024), ("kb", 1024), ("kib", 1024), ("m", 1 << 20), ("mb", 1 << 20),
            ("mib", 1 << 20), ("g", 1 << 30), ("gb", 1 << 30), ("gib", 1 << 30)]);
        if (unit == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
            || double.IsNaN(amount) || amount < 0 || amount * unit > long.MaxValue / 2)
        {
            return false;
        }

        var bytes = amount * unit;
        if (bytes != Math.Floor(bytes))
        {
            problem = "a size must be a whole number of bytes";
            return false;
        }

        value = (long)bytes;
        problem = null;
        return true;
    }

    /// <summary>A size as <see cref="TryParseSize"/> that fits an <see cref="int"/>.</summary>
    public static bool TryParseInt32Size(string text, out int value, out string? problem)
    {
        value = 0;
        if (!TryParseSize(text, out var size, out problem))
        {
            return false;
        }

        if (size > int.MaxValue)
        {
            problem = "the size must be below 2 GiB";
            return false;
        }

        value = (int)size;
        return true;
    }

    /// <summary>A size as <see cref="TryParseSize"/>, or <c>off</c> (<see langword="null"/>).</summary>
    public static bool TryParseOptionalSize(string text, out long? value, out string? problem)
    {
        value = null;
        if (IsOff(text))
        {
            problem = null;
            return true;
        }

        var parsed = TryParseSize(text, out var size, out problem);
        value = size;
        return parsed;
    }

    /// <summary>A percentage from 0 to 100: <c>5</c>, <c>0.5</c> or <c>5%</c>.</summary>
    public static bool TryParsePercent(string text, out double value, out string? problem)
    {
        problem = null;
        var number = text.Trim().TrimEnd('%').TrimEnd();
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value is >= 0 and <= 100)
        {
            return true;
        }

        problem = "write a percentage from 0 to 100, such as 1, 0.5 or 5%";
        return false;
    }

    /// <summary>A Unix domain socket path, checked for the platform's length limit.</summary>
    public static bool TryParseUnixPath(string text, out UnixDomainSocketEndPoint value, out string? problem)
    {
        value = null!;
        problem = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "write the path of the socket file, such as /tmp/echo.sock";
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

    /// <summary>A whole number of at least <paramref name="minimum"/>.</summary>
    public static TryParse<int> Count(int minimum) => (string text, out int value, out string? problem) =>
    {
        problem = null;
        if (int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value >= minimum)
        {
            return true;
        }

        problem = $"write a whole number of at least {minimum}";
        return false;
    };

    /// <summary>A whole number of at least <paramref name="minimum"/>, or <c>off</c> (<see langword="null"/>).</summary>
    public static TryParse<int?> OptionalCount(int minimum) => (string text, out int? value, out string? problem) =>
    {
        value = null;
        problem = null;
        if (IsOff(text))
        {
            return true;
        }

        if (Count(minimum)(text, out var count, out problem))
        {
            value = count;
            return true;
        }

        problem += ", or off";
        return false;
    };

    private static bool IsOff(string text) => OffWords.Contains(text.Trim(), StringComparer.OrdinalIgnoreCase);

    private static bool TryParsePort(string text, out int port, out string? problem)
    {
        problem = null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= IPEndPoint.MinPort and <= IPEndPoint.MaxPort)
        {
            return true;
        }

        problem = $"'{text}' is not a port; a port is a number from 0 to 65535";
        return false;
    }

    /// <summary>Splits <c>host:port</c>, <c>[v6]:port</c> (a bare IPv6 address without brackets is refused as ambiguous).</summary>
    private static bool TrySplitHostPort(string text, out string host, out string port)
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
            return host.Length > 0;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon != text.LastIndexOf(':'))
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

/// <summary>Where <c>echokit bench</c> sends load: a host (IP literal or name) and a port.</summary>
internal sealed record BenchTarget(string Host, int Port)
{
    /// <summary>
    /// The endpoint to connect to: the IP literal itself; <c>localhost</c> as 127.0.0.1; another name resolved
    /// with DNS, preferring an IPv4 address.
    /// </summary>
    public async Task<IPEndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(Host, out var literal))
        {
            return new IPEndPoint(literal, Port);
        }

        if (Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new IPEndPoint(IPAddress.Loopback, Port);
        }

        var addresses = await Dns.GetHostAddressesAsync(Host, cancellationToken).ConfigureAwait(false);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(chosen, Port);
    }

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>A parsed limit or timeout; <see cref="Value"/> is <see langword="null"/> for <c>off</c>.</summary>
internal readonly record struct Limit<T>(T? Value)
    where T : struct;
