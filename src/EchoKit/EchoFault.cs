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
/// <see cref="Blackhole"/>, <see cref="Bandwidth"/>, <see cref="SlowClose"/>, <see cref="StallReads"/>,
/// <see cref="Corrupt"/>, <see cref="Drop"/>, <see cref="Duplicate"/>, <see cref="Reorder"/>) or <see cref="Parse"/>,
/// and <see cref="ToString"/> writes it back in the grammar. Put rules in <see cref="EchoServerOptions.Faults"/>, or
/// change them on a running server through <see cref="EchoServer.Faults"/>.
/// </summary>
public sealed class EchoFault : IEquatable<EchoFault>
{
    /// <summary>The types <see cref="Parse"/> knows, in the grammar's words.</summary>
    private static readonly string[] SupportedTypes =
        ["latency", "slice", "limit", "reset", "refuse", "blackhole", "bandwidth", "slow-close", "stall-reads", "corrupt", "drop", "duplicate", "reorder"];

    /// <summary>How long <see cref="Reorder"/> holds a datagram back at most when no <c>hold=</c> is given.</summary>
    private static readonly TimeSpan DefaultReorderHold = TimeSpan.FromMilliseconds(100);

    /// <summary>The bytes between two flipped bits of <see cref="Corrupt"/> when no <c>every=</c> is given.</summary>
    private const long DefaultCorruptEvery = 4096;

    private readonly string _text;

    private EchoFault(
        EchoFaultType type, TimeSpan delay = default, TimeSpan jitter = default, int minSize = 0, int maxSize = 0, long bytes = 0,
        EchoFaultClose closeMode = EchoFaultClose.Close, TimeSpan? after = null, double toxicity = 1, EchoTransport? targetTransport = null,
        EndPoint? targetEndPoint = null, long rate = 0)
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
        Rate = rate;
        _text = Format();
    }

    /// <summary>What the rule does.</summary>
    public EchoFaultType Type { get; }

    /// <summary>
    /// <see cref="EchoFaultType.Latency"/>: the delay of each echo after its bytes arrived. <see cref="EchoFaultType.Slice"/>:
    /// the pause between two pieces. <see cref="EchoFaultType.SlowClose"/>: how long the server's close is held back.
    /// <see cref="EchoFaultType.Reorder"/>: the longest a datagram waits for the next one before it is echoed anyway.
    /// <see cref="TimeSpan.Zero"/> for the other types.
    /// </summary>
    public TimeSpan Delay { get; }

    /// <summary><see cref="EchoFaultType.Latency"/>: each delay is drawn uniformly from <see cref="Delay"/> ± this (never below zero); zero otherwise.</summary>
    public TimeSpan Jitter { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the smallest piece in bytes (each piece's size is drawn from <see cref="MinSize"/> to <see cref="MaxSize"/>); 0 otherwise.</summary>
    public int MinSize { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the largest piece in bytes; 0 otherwise.</summary>
    public int MaxSize { get; }

    /// <summary>
    /// <see cref="EchoFaultType.Limit"/>: the bytes echoed before the connection ends. <see cref="EchoFaultType.StallReads"/>:
    /// the bytes read before reading stops. <see cref="EchoFaultType.Corrupt"/>: the mean number of echoed bytes per
    /// flipped bit. 0 otherwise.
    /// </summary>
    public long Bytes { get; }

    /// <summary><see cref="EchoFaultType.Bandwidth"/>: the most bytes echoed per second on one connection; 0 otherwise.</summary>
    public long Rate { get; }

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

    /// <summary>
    /// The fraction of connections (stream) or datagrams (UDP) the rule applies to, 0 to 1 (<c>toxicity=</c>), decided
    /// once per connection at accept or once per datagram. Defaults to 1.
    /// </summary>
    public double Toxicity { get; }

    /// <summary>The one transport the rule applies to (<c>on=tcp</c>, <c>on=tls</c>, <c>on=unix</c>, <c>on=udp</c>), or <see langword="null"/> for every transport it fits.</summary>
    public EchoTransport? TargetTransport { get; }

    /// <summary>
    /// The one listening endpoint the rule applies to (<c>on=127.0.0.1:7007</c>, <c>on=unix:/tmp/echo.sock</c>; of the
    /// listeners on that endpoint, those of transports the rule fits), or <see langword="null"/>.
    /// </summary>
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

    /// <summary>Each echo is written at most <paramref name="bytesPerSecond"/> bytes per second (<c>bandwidth:rate=256KiB</c>).</summary>
    /// <param name="bytesPerSecond">The rate, at least 1 byte per second.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Bandwidth(long bytesPerSecond)
    {
        ThrowIf(bytesPerSecond < 1 ? "must be at least 1 byte per second" : null, nameof(bytesPerSecond), bytesPerSecond);
        return new EchoFault(EchoFaultType.Bandwidth, rate: bytesPerSecond);
    }

    /// <summary>When the client closes, the server's close (FIN) is held back for <paramref name="delay"/> (<c>slow-close:delay=1s</c>).</summary>
    /// <param name="delay">The hold, more than zero; a server stop ends it within <see cref="EchoServerOptions.ShutdownTimeout"/>.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault SlowClose(TimeSpan delay)
    {
        ThrowIf(delay == TimeSpan.Zero ? "must be more than zero" : CheckDuration(delay), nameof(delay), delay);
        return new EchoFault(EchoFaultType.SlowClose, delay);
    }

    /// <summary>The server stops reading after <paramref name="after"/> bytes (echoing them first), so the client's writes back up (<c>stall-reads:after=64KiB</c>).</summary>
    /// <param name="after">The bytes read before reading stops, zero or more.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault StallReads(long after = 0)
    {
        ThrowIf(after < 0 ? "must be zero or more" : null, nameof(after), after);
        return new EchoFault(EchoFaultType.StallReads, bytes: after);
    }

    /// <summary>One bit is flipped in roughly every <paramref name="every"/> echoed bytes, at positions drawn from the seed (<c>corrupt:every=4KiB</c>).</summary>
    /// <param name="every">The mean bytes per flipped bit, at least 1. Defaults to 4 KiB.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Corrupt(long every = DefaultCorruptEvery)
    {
        ThrowIf(every < 1 ? "must be at least 1 byte" : null, nameof(every), every);
        return new EchoFault(EchoFaultType.Corrupt, bytes: every);
    }

    /// <summary>A UDP datagram is not echoed (<c>drop:toxicity=0.1</c> drops one in ten).</summary>
    /// <returns>The rule.</returns>
    public static EchoFault Drop() => new(EchoFaultType.Drop);

    /// <summary>A UDP datagram is echoed twice (<c>duplicate:toxicity=0.05</c>).</summary>
    /// <returns>The rule.</returns>
    public static EchoFault Duplicate() => new(EchoFaultType.Duplicate);

    /// <summary>A UDP datagram is held back and echoed after the next one from the same source, or after <paramref name="hold"/> (<c>reorder:hold=100ms</c>).</summary>
    /// <param name="hold">The longest a datagram is held, more than zero. <see langword="null"/> (the default): 100 ms.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault Reorder(TimeSpan? hold = null)
    {
        var value = hold ?? DefaultReorderHold;
        ThrowIf(value == TimeSpan.Zero ? "must be more than zero" : CheckDuration(value), nameof(hold), value);
        return new EchoFault(EchoFaultType.Reorder, value);
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
            error = $"'{typeName}' is not a fault type; the types are {string.Join(", ", SupportedTypes)}";
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
        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, toxicity, TargetTransport, TargetEndPoint, Rate);
    }

    /// <summary>The same rule applied to one transport only (<c>on=tcp</c>, <c>on=tls</c>, <c>on=unix</c>, <c>on=udp</c>).</summary>
    /// <param name="transport">A transport the rule fits: stream rules fit TCP, TLS and Unix, datagram rules UDP.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The rule does not fit <paramref name="transport"/>.</exception>
    public EchoFault WithTarget(EchoTransport transport)
    {
        ThrowIf(FitsTransport(Type, transport) ? null : $"must be one {SupportedTypes[(int)Type]} fits ({TransportsOf(Type)})", nameof(transport), transport);
        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, Toxicity, transport, null, Rate);
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

        return new EchoFault(Type, Delay, Jitter, MinSize, MaxSize, Bytes, CloseMode, After, Toxicity, null, endPoint, Rate);
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
        if (!FitsTransport(Type, transport))
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

    /// <summary>The type's word in the grammar (<c>slow-close</c>), also the metric's <c>fault.type</c> tag.</summary>
    internal static string TypeName(EchoFaultType type) => SupportedTypes[(int)type];

    /// <summary>Whether a rule of <paramref name="type"/> can act on <paramref name="transport"/>: stream rules on TCP, TLS and Unix, datagram rules on UDP.</summary>
    internal static bool FitsTransport(EchoFaultType type, EchoTransport transport) => type switch
    {
        EchoFaultType.Latency or EchoFaultType.Corrupt => true,
        EchoFaultType.Drop or EchoFaultType.Duplicate or EchoFaultType.Reorder => transport == EchoTransport.Udp,
        _ => transport != EchoTransport.Udp,
    };

    private static string TransportsOf(EchoFaultType type) => type switch
    {
        EchoFaultType.Latency or EchoFaultType.Corrupt => "tcp, tls, unix, udp",
        EchoFaultType.Drop or EchoFaultType.Duplicate or EchoFaultType.Reorder => "udp",
        _ => "tcp, tls, unix",
    };

    private static string[] KeysOf(EchoFaultType type) => type switch
    {
        EchoFaultType.Latency => ["delay", "jitter"],
        EchoFaultType.Slice => ["size", "delay"],
        EchoFaultType.Limit => ["bytes", "then"],
        EchoFaultType.Reset => ["after"],
        EchoFaultType.Refuse => ["mode"],
        EchoFaultType.Blackhole => ["close-after"],
        EchoFaultType.Bandwidth => ["rate"],
        EchoFaultType.SlowClose => ["delay"],
        EchoFaultType.StallReads => ["after"],
        EchoFaultType.Corrupt => ["every"],
        EchoFaultType.Reorder => ["hold"],
        _ => [],
    };

    private static string Usage(EchoFaultType type) => (type switch
    {
        EchoFaultType.Latency => "latency:delay=TIME[,jitter=TIME]",
        EchoFaultType.Slice => "slice:size=N|MIN-MAX[,delay=TIME]",
        EchoFaultType.Limit => "limit:bytes=SIZE[,then=close|reset]",
        EchoFaultType.Reset => "reset[:after=TIME]",
        EchoFaultType.Refuse => "refuse[:mode=reset|close]",
        EchoFaultType.Blackhole => "blackhole[:close-after=TIME]",
        EchoFaultType.Bandwidth => "bandwidth:rate=SIZE (bytes per second)",
        EchoFaultType.SlowClose => "slow-close:delay=TIME",
        EchoFaultType.StallReads => "stall-reads[:after=SIZE]",
        EchoFaultType.Corrupt => "corrupt[:every=SIZE]",
        EchoFaultType.Reorder => "reorder[:hold=TIME]",
        _ => SupportedTypes[(int)type],
    }) + $" plus toxicity=0..1 and on={TransportsOf(type).Replace(", ", "|", StringComparison.Ordinal)}|ENDPOINT (TIME such as 50ms or 2s, SIZE such as 4096 or 4KiB)";

    private static bool TryBuild(EchoFaultType type, Dictionary<string, string> values, [NotNullWhen(true)] out EchoFault? fault, [NotNullWhen(false)] out string? error)
    {
        fault = null;
        var name = SupportedTypes[(int)type];
        string? problem = null;
        TimeSpan delay = default, jitter = default;
        TimeSpan? after = null;
        int minSize = 0, maxSize = 0;
        long bytes = 0, rate = 0;
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
                _ = Required("bytes") && Size("bytes", 1, "must be at least 1 byte (refuse ends a connection before any byte)", out bytes) && CloseWord("then", out close);
                break;
            case EchoFaultType.Bandwidth:
                _ = Required("rate") && Size("rate", 1, "must be at least 1 byte per second", out rate);
                break;
            case EchoFaultType.SlowClose:
                _ = Required("delay") && Duration("delay", out delay) && Positive("delay", delay);
                break;
            case EchoFaultType.StallReads:
                _ = Size("after", 0, "must be zero or more", out bytes);
                break;
            case EchoFaultType.Corrupt:
                _ = Size("every", 1, "must be at least 1 byte", out bytes, DefaultCorruptEvery);
                break;
            case EchoFaultType.Drop or EchoFaultType.Duplicate:
                break;
            case EchoFaultType.Reorder:
                _ = Duration("hold", out delay, DefaultReorderHold) && Positive("hold", delay);
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
            transport = on.ToLowerInvariant() switch
            {
                "tcp" => EchoTransport.Tcp,
                "tls" => EchoTransport.Tls,
                "unix" => EchoTransport.Unix,
                "udp" => EchoTransport.Udp,
                _ => null,
            };
            if (transport is { } named && !FitsTransport(type, named))
            {
                Bad("on", on, $"is a transport {name} does not fit ({name} fits {TransportsOf(type)})");
            }
            else if (transport is null && !ValueGrammar.TryParseEndPoint(on, allowUnix: true, out endPoint, out var endPointError))
            {
                Bad("on", on, $"is not {TransportsOf(type)} or {endPointError.What}{(endPointError.Detail is null ? "" : $" ({endPointError.Detail})")}");
            }
            else if (endPoint is UnixDomainSocketEndPoint && !FitsTransport(type, EchoTransport.Unix))
            {
                Bad("on", on, $"is a Unix socket endpoint, which {name} does not fit ({name} fits {TransportsOf(type)})");
            }
        }

        if (problem is not null)
        {
            error = problem;
            return false;
        }

        error = null;
        fault = new EchoFault(type, delay, jitter, minSize, maxSize, bytes, close, after, toxicity, transport, endPoint, rate);
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

        bool Positive(string key, TimeSpan value)
        {
            if (value > TimeSpan.Zero)
            {
                return true;
            }

            Bad(key, values[key], "must be more than zero");
            return false;
        }

        bool Size(string key, long min, string rule, out long value, long absent = 0)
        {
            value = absent;
            if (Value(key) is not { } text)
            {
                return true;
            }

            if (!ValueGrammar.TryParseSize(text, out value, out var sizeError))
            {
                Bad(key, text, $"is not {sizeError.What}{(sizeError.Detail is null ? "" : $" ({sizeError.Detail})")}");
                return false;
            }

            if (value < min)
            {
                Bad(key, text, rule);
                return false;
            }

            return true;
        }

        bool Duration(string key, out TimeSpan value, TimeSpan absent = default)
        {
            value = absent;
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
            case EchoFaultType.Blackhole:
                if (After is { } closeAfter)
                {
                    keys.Add("close-after=" + ValueGrammar.FormatDuration(closeAfter));
                }

                break;
            case EchoFaultType.Bandwidth:
                keys.Add("rate=" + ValueGrammar.FormatSize(Rate));
                break;
            case EchoFaultType.SlowClose:
                keys.Add("delay=" + ValueGrammar.FormatDuration(Delay));
                break;
            case EchoFaultType.StallReads:
                if (Bytes > 0)
                {
                    keys.Add("after=" + ValueGrammar.FormatSize(Bytes));
                }

                break;
            case EchoFaultType.Corrupt:
                if (Bytes != DefaultCorruptEvery)
                {
                    keys.Add("every=" + ValueGrammar.FormatSize(Bytes));
                }

                break;
            case EchoFaultType.Reorder:
                if (Delay != DefaultReorderHold)
                {
                    keys.Add("hold=" + ValueGrammar.FormatDuration(Delay));
                }

                break;
        }

        if (Toxicity != 1)
        {
            keys.Add("toxicity=" + Toxicity.ToString("R", CultureInfo.InvariantCulture));
        }

        if (TargetTransport is { } transport)
        {
            keys.Add("on=" + transport.ToString().ToLowerInvariant());
        }
        else if (TargetEndPoint is { } endPoint)
        {
            keys.Add("on=" + ValueGrammar.FormatEndPoint(endPoint));
        }

        var type = SupportedTypes[(int)Type];
        return keys.Count == 0 ? type : type + ":" + string.Join(",", keys);
    }
}
