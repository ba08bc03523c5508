using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EchoKit.Shared;

namespace EchoKit;

/// <summary>
/// One fault rule: how the server misbehaves on the connections it applies to, written
/// <c>TYPE[:key=value[,key=value...]]</c> (see docs/FAULTS.md). Immutable; build one with a factory method
/// (<see cref="Latency"/>, <see cref="Slice"/>, <see cref="Limit"/>, <see cref="Reset"/>, <see cref="Refuse"/>,
/// <see cref="Blackhole"/>) or <see cref="Parse"/>, and <see cref="ToString"/> writes it back in the grammar.
/// Put rules in <see cref="EchoServerOptions.Faults"/>; they apply to TCP and Unix socket connections.
/// </summary>
public sealed class EchoFault : IEquatable<EchoFault>
{
    /// <summary>The types <see cref="Parse"/> knows, in the grammar's words.</summary>
    private static readonly string[] SupportedTypes = ["latency", "slice", "limit", "reset", "refuse", "blackhole"];

    /// <summary>Types of the catalog (issue 11) that are planned but not implemented: refused with a clear error rather than accepted and ignored.</summary>
    private static readonly string[] PlannedTypes = ["bandwidth", "slow-close", "stall-reads", "corrupt", "drop", "duplicate", "reorder"];

    private readonly string _text;

    private EchoFault(
        EchoFaultType type, TimeSpan delay = default, TimeSpan jitter = default, int minSize = 0, int maxSize = 0, long bytes = 0,
        EchoFaultClose closeMode = EchoFaultClose.Close, TimeSpan? after = null, double toxicity = 1, EchoTransport? targetTransport = null,
        EndPoint? targetEndPoint = null)
    {
        Type = type;
        Delay = delay;
        Jitter = jitter;
        MinSize = minSize;
        MaxSize = maxSize;
        Bytes = bytes;
        CloseMode = closeMode;
        After = after;
        Toxicity = toxicity;
        TargetTransport = targetTransport;
        TargetEndPoint = targetEndPoint;
        _text = Format();
    }

    /// <summary>What the rule does.</summary>
    public EchoFaultType Type { get; }

    /// <summary>
    /// <see cref="EchoFaultType.Latency"/>: the delay of each echo after its bytes arrived. <see cref="EchoFaultType.Slice"/>:
    /// the pause between two pieces. <see cref="TimeSpan.Zero"/> for the other types.
    /// </summary>
    public TimeSpan Delay { get; }

    /// <summary><see cref="EchoFaultType.Latency"/>: each delay is drawn uniformly from <see cref="Delay"/> ± this (never below zero); zero otherwise.</summary>
    public TimeSpan Jitter { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the smallest piece in bytes (each piece's size is drawn from <see cref="MinSize"/> to <see cref="MaxSize"/>); 0 otherwise.</summary>
    public int MinSize { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the largest piece in bytes; 0 otherwise.</summary>
    public int MaxSize { get; }

    /// <summary><see cref="EchoFaultType.Limit"/>: the bytes echoed before the connection ends; 0 otherwise.</summary>
    public long Bytes { get; }

    /// <summary>
    /// How the connection ends: after the limit (<see cref="EchoFaultType.Limit"/>, <c>then=</c>, default
    /// <see cref="EchoFaultClose.Close"/>) or at accept (<see cref="EchoFaultType.Refuse"/>, <c>mode=</c>, default
    /// <see cref="EchoFaultClose.Reset"/>). <see cref="EchoFaultType.Reset"/> is always <see cref="EchoFaultClose.Reset"/>,
    /// <see cref="EchoFaultType.Blackhole"/> always <see cref="EchoFaultClose.Close"/>.
    /// </summary>
    public EchoFaultClose CloseMode { get; }

    /// <summary>
    /// <see cref="EchoFaultType.Reset"/>: the time from accept to the reset (zero: at once, before any echo).
    /// <see cref="EchoFaultType.Blackhole"/>: the time from accept to a close, or <see langword="null"/> for never.
    /// <see langword="null"/> for the other types.
    /// </summary>
    public TimeSpan? After { get; }

    /// <summary>The fraction of connections the rule applies to, 0 to 1, decided once per connection at accept (<c>toxicity=</c>). Defaults to 1.</summary>
    public double Toxicity { get; }

    /// <summary>The one transport the rule applies to (<c>on=tcp</c>, <c>on=unix</c>), or <see langword="null"/> for every stream transport it fits.</summary>
    public EchoTransport? TargetTransport { get; }

    /// <summary>The one listening endpoint the rule applies to (<c>on=127.0.0.1:7007</c>, <c>on=unix:/tmp/echo.sock</c>), or <see langword="null"/>.</summary>
    public EndPoint? TargetEndPoint { get; }

    /// <summary>Each echo is written <paramref name="delay"/> ± <paramref name="jitter"/> after its bytes arrived; order is kept (<c>latency:delay=50ms,jitter=10ms</c>).</summary>
    /// <param name="delay">The delay, zero or more, at most <see cref="int.MaxValue"/> milliseconds.</param>
    /// <param name="jitter">The spread, drawn per receive from the server's seed; zero or more.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Latency(TimeSpan delay, TimeSpan jitter = default)
    {
        ThrowIf(CheckDuration(delay), nameof(delay), delay);
        ThrowIf(CheckDuration(jitter), nameof(jitter), jitter);
        return new EchoFault(EchoFaultType.Latency, delay, jitter);
    }

    /// <summary>Each echo is written in pieces of <paramref name="minSize"/> to <paramref name="maxSize"/> bytes, <paramref name="delay"/> apart (<c>slice:size=1-16,delay=1ms</c>).</summary>
    /// <param name="minSize">The smallest piece, at least 1 byte.</param>
    /// <param name="maxSize">The largest piece, at least <paramref name="minSize"/>; each piece's size is drawn from the seed.</param>
    /// <param name="delay">The pause between two pieces of one echo; zero or more.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Slice(int minSize, int maxSize, TimeSpan delay = default)
    {
        ThrowIf(minSize < 1 ? "must be at least 1 byte" : null, nameof(minSize), minSize);
        ThrowIf(maxSize < minSize ? "must be at least minSize" : null, nameof(maxSize), maxSize);
        ThrowIf(CheckDuration(delay), nameof(delay), delay);
        return new EchoFault(EchoFaultType.Slice, delay, minSize: minSize, maxSize: maxSize);
    }

    /// <summary>Exactly <paramref name="bytes"/> bytes are echoed, then the connection ends (<c>limit:bytes=4KiB,then=reset</c>).</summary>
    /// <param name="bytes">The bytes echoed, at least 1.</param>
    /// <param name="then"><see cref="EchoFaultClose.Close"/>: FIN, then what the client still sends is read and discarded until it closes; <see cref="EchoFaultClose.Reset"/>: RST.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Limit(long bytes, EchoFaultClose then = EchoFaultClose.Close)
    {
        ThrowIf(bytes < 1 ? "must be at least 1 byte (refuse ends a connection before any byte)" : null, nameof(bytes), bytes);
        ThrowIf(Enum.IsDefined(then) ? null : "is not an EchoFaultClose", nameof(then), then);
        return new EchoFault(EchoFaultType.Limit, bytes: bytes, closeMode: then);
    }

    /// <summary>The connection is reset (RST) <paramref name="after"/> it was accepted; zero resets it at once, before any echo (<c>reset:after=2s</c>).</summary>
    /// <param name="after">The time from accept, zero or more.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Reset(TimeSpan after = default)
    {
        ThrowIf(CheckDuration(after), nameof(after), after);
        return new EchoFault(EchoFaultType.Reset, closeMode: EchoFaultClose.Reset, after: after);
    }

    /// <summary>Each connection is closed at once after accept, before any byte, and reported as rejected (<c>refuse:mode=close</c>).</summary>
    /// <param name="mode"><see cref="EchoFaultClose.Reset"/> (the default): RST; <see cref="EchoFaultClose.Close"/>: FIN.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not defined.</exception>
    public static EchoFault Refuse(EchoFaultClose mode = EchoFaultClose.Reset)
    {
        ThrowIf(Enum.IsDefined(mode) ? null : "is not an EchoFaultClose", nameof(mode), mode);
        return new EchoFault(EchoFaultType.Refuse, closeMode: mode);
    }

    /// <summary>What arrives is read and discarded and nothing is echoed; the connection is closed (FIN) <paramref name="closeAfter"/> accept, or never (<c>blackhole:close-after=5s</c>).</summary>
    /// <param name="closeAfter">The time from accept to the close, more than zero, or <see langword="null"/> (the default) for never.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Blackhole(TimeSpan? closeAfter = null)
    {
        if (closeAfter is { } after)
        {
            ThrowIf(after == TimeSpan.Zero ? "must be more than zero, or null for never" : CheckDuration(after), nameof(closeAfter), after);
        }

        return new EchoFault(EchoFaultType.Blackhole, after: closeAfter);
    }

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
            error = $"a rule is written TYPE[:key=value,...], such as latency:delay=50ms; the types are {string.Join(", ", SupportedTypes)}";
            return false;
        }

        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        var typeName = (colon < 0 ? trimmed : trimmed[..colon]).Trim().ToLowerInvariant();
        if (!SupportedTypes.Contains(typeName))
        {
            error = PlannedTypes.Contains(typeName)
                ? $"the fault type '{typeName}' is not supported yet; the supported types are {string.Join(", ", SupportedTypes)}"
                : $"'{typeName}' is not a fault type; the supported types are {string.Join(", ", SupportedTypes)}";
            return false;
        }

        var type = (EchoFaultType)Array.IndexOf(SupportedTypes, typeName);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (colon >= 0)
        {
            foreach (var pair in trimmed[(colon + 1)..].Split(','))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = (equals < 0 ? pair : pair[..equals]).Trim().ToLowerInvariant();
                if (equals < 0 || key.Length == 0)
                {
                    error = $"'{pair.Trim()}' is not key=value; the rule is {Usage(type)}";
                    return false;
                }

                if (!KeysOf(type).Contains(key) && key is not ("toxicity" or "on"))
                {
                    error = $"{typeName} has no key '{key}'; the rule is {Usage(type)}";
                    return false;
                }

                if (!values.TryAdd(key, pair[(equals + 1)..].Trim()))
                {
                    error = $"the key '{key}' is given twice; the rule is {Usage(type)}";
                    return false;
                }
            }
        }

        return TryBuild(type, values, out fault, out error);
    }

    /// <summary>The same rule with another <see cref="Toxicity"/>.</summary>
    /// <param name="toxicity">The fraction of connections the rule applies to, 0 to 1.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="toxicity"/> is not between 0 and 1.</exception>
    public EchoFault WithToxicity(double toxicity)
    {
        ThrowIf(CheckToxicity(toxicity), nameof(toxicity), toxicity);
        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, toxicity, TargetTransport, TargetEndPoint);
    }

    /// <summary>The same rule applied to one transport only (<c>on=tcp</c>, <c>on=unix</c>).</summary>
    /// <param name="transport"><see cref="EchoTransport.Tcp"/> or <see cref="EchoTransport.Unix"/>; TLS and UDP are not supported yet.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transport"/> is not TCP or Unix.</exception>
    public EchoFault WithTarget(EchoTransport transport)
    {
        ThrowIf(transport is EchoTransport.Tcp or EchoTransport.Unix ? null : "must be Tcp or Unix: faults on TLS and UDP are not supported yet", nameof(transport), transport);
        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, Toxicity, transport, null);
    }

    /// <summary>The same rule applied to the connections of one listening endpoint only (<c>on=127.0.0.1:7007</c>).</summary>
    /// <param name="endPoint">A TCP <see cref="IPEndPoint"/> or a <see cref="UnixDomainSocketEndPoint"/> of <see cref="EchoServerOptions.EndPoints"/>, as configured or as bound.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="endPoint"/> is neither an IP nor a Unix socket endpoint.</exception>
    public EchoFault WithTarget(EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is not (IPEndPoint or UnixDomainSocketEndPoint))
        {
            throw new ArgumentException($"A fault's endpoint must be an IPEndPoint or a UnixDomainSocketEndPoint, not {endPoint.GetType().Name}.", nameof(endPoint));
        }

        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, Toxicity, null, endPoint);
    }

    /// <summary>The rule in the grammar <see cref="Parse"/> reads, with defaults left out: <c>latency:delay=50ms,jitter=10ms</c>.</summary>
    /// <returns>The rule as text.</returns>
    public override string ToString() => _text;

    /// <summary>Whether <paramref name="other"/> is the same rule (the same text).</summary>
    /// <param name="other">The other rule.</param>
    /// <returns>Whether both are the same rule.</returns>
    public bool Equals(EchoFault? other) => other is not null && string.Equals(_text, other._text, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as EchoFault);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_text);

    /// <summary>Whether the rule applies to connections of a listener of <paramref name="transport"/>, bound to <paramref name="bound"/> (configured as <paramref name="configured"/>).</summary>
    internal bool Fits(EchoTransport transport, EndPoint bound, EndPoint? configured)
    {
        if (transport is not (EchoTransport.Tcp or EchoTransport.Unix))
        {
            return false;
        }

        if (TargetTransport is { } target)
        {
            return target == transport;
        }

        if (TargetEndPoint is { } endPoint)
        {
            var wanted = ValueGrammar.FormatEndPoint(endPoint);
            return wanted == ValueGrammar.FormatEndPoint(bound) || (configured is not null && wanted == ValueGrammar.FormatEndPoint(configured));
        }

        return true;
    }

    private static string[] KeysOf(EchoFaultType type) => type switch
    {
        EchoFaultType.Latency => ["delay", "jitter"],
        EchoFaultType.Slice => ["size", "delay"],
        EchoFaultType.Limit => ["bytes", "then"],
        EchoFaultType.Reset => ["after"],
        EchoFaultType.Refuse => ["mode"],
        _ => ["close-after"],
    };

    private static string Usage(EchoFaultType type) => (type switch
    {
        EchoFaultType.Latency => "latency:delay=TIME[,jitter=TIME]",
        EchoFaultType.Slice => "slice:size=N|MIN-MAX[,delay=TIME]",
        EchoFaultType.Limit => "limit:bytes=SIZE[,then=close|reset]",
        EchoFaultType.Reset => "reset[:after=TIME]",
        EchoFaultType.Refuse => "refuse[:mode=reset|close]",
        _ => "blackhole[:close-after=TIME]",
    }) + " plus toxicity=0..1 and on=tcp|unix|ENDPOINT (TIME such as 50ms or 2s, SIZE such as 4096 or 4KiB)";

    private static bool TryBuild(EchoFaultType type, Dictionary<string, string> values, [NotNullWhen(true)] out EchoFault? fault, [NotNullWhen(false)] out string? error)
    {
        fault = null;
        var name = SupportedTypes[(int)type];
        string? problem = null;
        TimeSpan delay = default, jitter = default;
        TimeSpan? after = null;
        int minSize = 0, maxSize = 0;
        long bytes = 0;
        var close = type == EchoFaultType.Refuse ? EchoFaultClose.Reset : EchoFaultClose.Close;
        var toxicity = 1.0;
        EchoTransport? transport = null;
        EndPoint? endPoint = null;

        switch (type)
        {
            case EchoFaultType.Latency:
                _ = Required("delay") && Duration("delay", out delay) && Duration("jitter", out jitter);
                break;
            case EchoFaultType.Slice:
                _ = Required("size") && Sizes(out minSize, out maxSize) && Duration("delay", out delay);
                break;
            case EchoFaultType.Limit:
                if (Required("bytes") && Value("bytes") is { } text)
                {
                    if (!ValueGrammar.TryParseSize(text, out bytes, out var sizeError))
                    {
                        Bad("bytes", text, $"is not {sizeError.What}{(sizeError.Detail is null ? "" : $" ({sizeError.Detail})")}");
                    }
                    else if (bytes < 1)
                    {
                        Bad("bytes", text, "must be at least 1 byte (refuse ends a connection before any byte)");
                    }
                }

                _ = problem is null && CloseWord("then", out close);
                break;
            case EchoFaultType.Reset:
                _ = Duration("after", out var resetAfter);
                after = resetAfter;
                break;
            case EchoFaultType.Refuse:
                _ = CloseWord("mode", out close);
                break;
            default:
                if (values.ContainsKey("close-after") && Duration("close-after", out var closeAfter))
                {
                    if (closeAfter == TimeSpan.Zero)
                    {
                        Bad("close-after", values["close-after"], "must be more than zero (leave it out for never)");
                    }

                    after = closeAfter;
                }

                break;
        }

        if (problem is null && Value("toxicity") is { } toxicityText)
        {
            if (!double.TryParse(toxicityText, NumberStyles.Float, CultureInfo.InvariantCulture, out toxicity) || CheckToxicity(toxicity) is not null)
            {
                Bad("toxicity", toxicityText, "is not a fraction from 0 to 1 (such as 0.3)");
            }
        }

        if (problem is null && Value("on") is { } on)
        {
            switch (on.ToLowerInvariant())
            {
                case "tcp":
                    transport = EchoTransport.Tcp;
                    break;
                case "unix":
                    transport = EchoTransport.Unix;
                    break;
                case "tls" or "udp":
                    Bad("on", on, "is not supported yet: faults apply to tcp and unix only");
                    break;
                default:
                    if (!ValueGrammar.TryParseEndPoint(on, allowUnix: true, out endPoint, out var endPointError))
                    {
                        Bad("on", on, $"is not tcp, unix or {endPointError.What}{(endPointError.Detail is null ? "" : $" ({endPointError.Detail})")}");
                    }

                    break;
            }
        }

        if (problem is not null)
        {
            error = problem;
            return false;
        }

        error = null;
        fault = new EchoFault(type, delay, jitter, minSize, maxSize, bytes, close, after, toxicity, transport, endPoint);
        return true;

        string? Value(string key) => values.TryGetValue(key, out var value) ? value : null;

        void Bad(string key, string text, string rule) => problem ??= $"{name}: {key}='{text}' {rule}; the rule is {Usage(type)}";

        bool Required(string key)
        {
            if (values.ContainsKey(key))
            {
                return true;
            }

            problem ??= $"{name} needs {key}=; the rule is {Usage(type)}";
            return false;
        }

        bool Duration(string key, out TimeSpan value)
        {
            value = default;
            if (Value(key) is not { } text)
            {
                return true;
            }

            if (!ValueGrammar.TryParseDuration(text, out value, out var durationError))
            {
                Bad(key, text, $"is not {durationError.What}{(durationError.Detail is null ? "" : $" ({durationError.Detail})")}");
                return false;
            }

            if (CheckDuration(value) is { } rule)
            {
                Bad(key, text, rule);
                return false;
            }

            return true;
        }

        bool Sizes(out int min, out int max)
        {
            min = max = 0;
            var text = values["size"];
            var dash = text.IndexOf('-', StringComparison.Ordinal);
            var minText = dash < 0 ? text : text[..dash];
            var maxText = dash < 0 ? text : text[(dash + 1)..];
            if (!ValueGrammar.TryParseInt32Size(minText, out min, out _) || !ValueGrammar.TryParseInt32Size(maxText, out max, out _))
            {
                Bad("size", text, "is not a size (16) or a range of sizes (1-16)");
                return false;
            }

            if (min < 1 || max < min)
            {
                Bad("size", text, "must be at least 1 byte, and a range must go up (1-16)");
                return false;
            }

            return true;
        }

        bool CloseWord(string key, out EchoFaultClose value)
        {
            value = close;
            switch (Value(key)?.ToLowerInvariant())
            {
                case null:
                    return true;
                case "close" or "fin":
                    value = EchoFaultClose.Close;
                    return true;
                case "reset" or "rst":
                    value = EchoFaultClose.Reset;
                    return true;
                default:
                    Bad(key, values[key], "is not close or reset");
                    return false;
            }
        }
    }

    private static string? CheckDuration(TimeSpan value) =>
        value < TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue ? $"must be zero or more and at most {TimeSpan.FromMilliseconds(int.MaxValue)}" : null;

    private static string? CheckToxicity(double value) => value is >= 0 and <= 1 ? null : "must be from 0 to 1";

    private static void ThrowIf(string? rule, string parameter, object value)
    {
        if (rule is not null)
        {
            throw new ArgumentOutOfRangeException(parameter, value, $"The fault's {parameter} {rule} (was {value}).");
        }
    }

    private string Format()
    {
        var keys = new List<string>();
        switch (Type)
        {
            case EchoFaultType.Latency:
                keys.Add("delay=" + ValueGrammar.FormatDuration(Delay));
                if (Jitter > TimeSpan.Zero)
                {
                    keys.Add("jitter=" + ValueGrammar.FormatDuration(Jitter));
                }

                break;
            case EchoFaultType.Slice:
                keys.Add("size=" + (MinSize == MaxSize ? ValueGrammar.FormatSize(MinSize) : $"{ValueGrammar.FormatSize(MinSize)}-{ValueGrammar.FormatSize(MaxSize)}"));
                if (Delay > TimeSpan.Zero)
                {
                    keys.Add("delay=" + ValueGrammar.FormatDuration(Delay));
                }

                break;
            case EchoFaultType.Limit:
                keys.Add("bytes=" + ValueGrammar.FormatSize(Bytes));
                if (CloseMode == EchoFaultClose.Reset)
                {
                    keys.Add("then=reset");
                }

                break;
            case EchoFaultType.Reset:
                if (After > TimeSpan.Zero)
                {
                    keys.Add("after=" + ValueGrammar.FormatDuration(After.Value));
                }

                break;
            case EchoFaultType.Refuse:
                if (CloseMode == EchoFaultClose.Close)
                {
                    keys.Add("mode=close");
                }

                break;
            default:
                if (After is { } closeAfter)
                {
                    keys.Add("close-after=" + ValueGrammar.FormatDuration(closeAfter));
                }

                break;
        }

        if (Toxicity != 1)
        {
            keys.Add("toxicity=" + Toxicity.ToString("R", CultureInfo.InvariantCulture));
        }

        if (TargetTransport is { } transport)
        {
            keys.Add("on=" + (transport == EchoTransport.Unix ? "unix" : "tcp"));
        }
        else if (TargetEndPoint is { } endPoint)
        {
            keys.Add("on=" + ValueGrammar.FormatEndPoint(endPoint));
        }

        var type = SupportedTypes[(int)Type];
        return keys.Count == 0 ? type : type + ":" + string.Join(",", keys);
    }
}
