using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;
using EchoKit.Shared;

namespace EchoKit;

/// <summary>The reader of the grammar <c>TYPE[:key=value,...]</c>; what each type takes comes from <see cref="FaultTypes"/>.</summary>
public sealed partial class EchoFault
{
    /// <summary>Reads a rule written <c>TYPE[:key=value[,key=value...]]</c>, such as <c>latency:delay=50ms,jitter=10ms,toxicity=0.3</c>.</summary>
    /// <param name="text">The rule. Durations and sizes use the grammar of every EchoKit option (<c>50ms</c>, <c>2s</c>, <c>4KiB</c>).</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The text is no rule; the message names the rule, the key and the grammar of the rule.</exception>
    public static EchoFault Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var fault, out var error) ? fault : throw new FormatException($"'{text}' is not a fault rule: {error}.");
    }

    /// <summary>Reads a rule as <see cref="Parse"/> does, without throwing.</summary>
    /// <param name="text">The rule.</param>
    /// <param name="fault">The rule read, or <see langword="null"/>.</param>
    /// <returns>Whether <paramref name="text"/> is a rule.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out EchoFault? fault) => TryParse(text, out fault, out _);

    /// <summary>Reads a rule as <see cref="Parse"/> does, without throwing, and says what is wrong when it is none.</summary>
    /// <param name="text">The rule.</param>
    /// <param name="fault">The rule read, or <see langword="null"/>.</param>
    /// <param name="error">What is wrong with <paramref name="text"/> (naming the type, the key and the grammar of the rule), or <see langword="null"/>.</param>
    /// <returns>Whether <paramref name="text"/> is a rule.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out EchoFault? fault, [NotNullWhen(false)] out string? error)
    {
        fault = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"a rule is written TYPE[:key=value,...], such as latency:delay=50ms; the types are {FaultTypes.Names}";
            return false;
        }

        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        var typeName = (colon < 0 ? trimmed : trimmed[..colon]).Trim().ToLowerInvariant();
        if (FaultTypes.Find(typeName) is not { } info)
        {
            error = $"'{typeName}' is not a fault type; the types are {FaultTypes.Names}";
            return false;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (colon >= 0)
        {
            foreach (var pair in trimmed[(colon + 1)..].Split(','))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = (equals < 0 ? pair : pair[..equals]).Trim().ToLowerInvariant();
                if (equals < 0 || key.Length == 0)
                {
                    error = $"'{pair.Trim()}' is not key=value; the rule is {info.Usage}";
                    return false;
                }

                if (info.Key(key) is null && key is not ("toxicity" or "on" or "stream"))
                {
                    error = $"{typeName} has no key '{key}'; the rule is {info.Usage}";
                    return false;
                }

                if (!values.TryAdd(key, pair[(equals + 1)..].Trim()))
                {
                    error = $"the key '{key}' is given twice; the rule is {info.Usage}";
                    return false;
                }
            }
        }

        error = ReadValues(info, values, out var read, out var toxicity, out var transport, out var endPoint, out var stream);
        if (error is not null)
        {
            return false;
        }

        fault = info.Build(read).Copy(toxicity, transport, endPoint, stream);
        return true;
    }

    /// <summary>
    /// Reads <paramref name="values"/> (of keys <paramref name="info"/>'s type has, in lower case) into the values of
    /// its keys (<paramref name="read"/>, in the type's order), the toxicity, the target and the stream; returns what is wrong, the
    /// first wrong key in that order, or <see langword="null"/>.
    /// </summary>
    private static string? ReadValues(
        FaultTypeInfo info, Dictionary<string, string> values, out object?[] read, out double toxicity, out EchoTransport? transport, out EndPoint? endPoint,
        out FaultDirection stream)
    {
        read = new object?[info.Keys.Count];
        stream = FaultDirection.Downstream;
        toxicity = 1.0;
        transport = null;
        endPoint = null;
        if (info.Keys.FirstOrDefault(k => k.Required && !values.ContainsKey(k.Name)) is { } missing)
        {
            return $"{info.Name} needs {missing.Name}=; the rule is {info.Usage}";
        }

        for (var i = 0; i < read.Length; i++)
        {
            var key = info.Keys[i];
            if (!values.TryGetValue(key.Name, out var text))
            {
                read[i] = key.Absent;
            }
            else if (!key.TryRead(text, out read[i], out var rule))
            {
                return Bad(key.Name, text, rule);
            }
        }

        if (values.TryGetValue("toxicity", out var toxicityText)
            && (!double.TryParse(toxicityText, NumberStyles.Float, CultureInfo.InvariantCulture, out toxicity) || CheckToxicity(toxicity) is not null))
        {
            return Bad("toxicity", toxicityText, "is not a fraction from 0 to 1 (such as 0.3)");
        }

        if (values.TryGetValue("on", out var on) && ReadTarget(info, on, out transport, out endPoint) is { } problem)
        {
            return Bad("on", on, problem);
        }

        if (values.TryGetValue("stream", out var streamText))
        {
            switch (streamText.ToLowerInvariant())
            {
                case "downstream":
                    break;
                case "upstream":
                    stream = FaultDirection.Upstream;
                    break;
                default:
                    return Bad("stream", streamText, "is not upstream or downstream");
            }
        }

        return null;

        string Bad(string key, string text, string rule) => $"{info.Name}: {key}='{text}' {rule}; the rule is {info.Usage}";
    }

    /// <summary>Reads <c>on=</c>: a transport or a listening endpoint that <paramref name="info"/>'s type fits; else what is wrong with it.</summary>
    private static string? ReadTarget(FaultTypeInfo info, string on, out EchoTransport? transport, out EndPoint? endPoint)
    {
        endPoint = null;
        transport = on.ToLowerInvariant() switch
        {
            "tcp" => EchoTransport.Tcp,
            "tls" => EchoTransport.Tls,
            "unix" => EchoTransport.Unix,
            "udp" => EchoTransport.Udp,
            _ => null,
        };
        var fits = $"{info.Name} does not fit ({info.Name} fits {info.TransportList})";
        if (transport is { } named)
        {
            return info.Fits(named) ? null : $"is a transport {fits}";
        }

        if (!ValueGrammar.TryParseEndPoint(on, allowUnix: true, out endPoint, out var endPointError))
        {
            return $"is not {info.TransportList} or {FaultKey.Expected(endPointError)}";
        }

        return endPoint is UnixDomainSocketEndPoint && !info.Fits(EchoTransport.Unix) ? $"is a Unix socket endpoint, which {fits}" : null;
    }
}
