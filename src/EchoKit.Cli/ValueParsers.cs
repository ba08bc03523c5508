using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EchoKit.Shared;
using static EchoKit.Shared.ValueGrammar;

namespace EchoKit.Cli;

/// <summary>
/// Builds the <see cref="Option{T}"/>s of <c>echokit</c>: one read by a <see cref="ValueGrammar"/> reader reports a bad
/// value as a parse error naming the flag (so every bad value ends in exit code 2), in the words the configuration
/// keys use too. Also reads what only <c>bench</c> takes: a target, a count with a minimum, a percentage.
/// </summary>
internal static class ValueParsers
{
    /// <summary>An option with one value read by <paramref name="read"/>.</summary>
    public static Option<T> NewOption<T>(string name, string helpName, string description, Reader<T> read, params string[] aliases) =>
        new(name, aliases)
        {
            HelpName = helpName,
            Description = description,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                if (read(text, out var value, out var error))
                {
                    return value;
                }

                result.AddError(error.ForFlag(name, text));
                return default;
            },
        };

    /// <summary>An option whose value is taken as it is written (a file, a name, a password).</summary>
    public static Option<string> NewTextOption(string name, string helpName, string description) =>
        new(name) { HelpName = helpName, Description = description };

    /// <summary>Whether the user typed the option (as opposed to it taking its default).</summary>
    public static bool IsGiven(this ParseResult parseResult, Option option) =>
        parseResult.GetResult(option) is { Implicit: false };

    /// <summary>The value the user typed, or <paramref name="fallback"/> (a default that depends on the run, such as on a terminal).</summary>
    public static T ValueOr<T>(ParseResult parseResult, Option<T> option, T fallback) =>
        parseResult.IsGiven(option) ? parseResult.GetValue(option)! : fallback;

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

    /// <summary>A percentage from 0 to 100: <c>5</c>, <c>0.5</c> or <c>5%</c>.</summary>
    public static bool TryParsePercent(string text, out double value, out ValueError error)
    {
        error = new("a percentage", "write one from 0 to 100, such as 1, 0.5 or 5%");
        var number = text.Trim().TrimEnd('%').TrimEnd();
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value is >= 0 and <= 100;
    }

    /// <summary>A whole number of at least <paramref name="minimum"/>.</summary>
    public static Reader<int> Count(int minimum) => (string text, out int value, out ValueError error) =>
    {
        error = new($"a whole number of at least {minimum}");
        return int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value >= minimum;
    };
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
