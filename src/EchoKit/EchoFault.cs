using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;
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
public sealed partial class EchoFault : IEquatable<EchoFault>
{
    private readonly string _text;

    // One slot per kind of value; each type reads its own through a property named for what it means to that type.
    private readonly TimeSpan _delay;
    private readonly long _bytes;
    private readonly TimeSpan? _after;

    private EchoFault(
        EchoFaultType type, TimeSpan delay = default, TimeSpan jitter = default, int minSize = 0, int maxSize = 0, long bytes = 0,
        EchoFaultClose closeMode = EchoFaultClose.Close, TimeSpan? after = null, double toxicity = 1, EchoTransport? targetTransport = null,
        EndPoint? targetEndPoint = null, long rate = 0, FaultDirection stream = FaultDirection.Downstream)
    {
        Type = type;
        _delay = delay;
        Jitter = jitter;
        MinSize = minSize;
        MaxSize = maxSize;
        _bytes = bytes;
        CloseMode = closeMode;
        _after = after;
        Toxicity = toxicity;
        TargetTransport = targetTransport;
        TargetEndPoint = targetEndPoint;
        Rate = rate;
        Stream = stream;
        _text = Format();
    }

    /// <summary>What the rule does.</summary>
    public EchoFaultType Type { get; }

    /// <summary><see cref="EchoFaultType.Latency"/>: the delay of each echo after its bytes arrived (<c>delay=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan Delay => Type == EchoFaultType.Latency ? _delay : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.Slice"/>: the pause between two pieces of one echo (<c>delay=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan PieceDelay => Type == EchoFaultType.Slice ? _delay : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.SlowClose"/>: how long the server's close is held back once the client closed (<c>delay=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan CloseDelay => Type == EchoFaultType.SlowClose ? _delay : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.SlowOpen"/>: how long an accepted connection stays silent before its first read (a proxy: before it connects upstream) (<c>delay=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan OpenDelay => Type == EchoFaultType.SlowOpen ? _delay : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.Reorder"/>: the longest a datagram waits for the next one before it is echoed anyway (<c>hold=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan Hold => Type == EchoFaultType.Reorder ? _delay : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.Latency"/>: each delay is drawn uniformly from <see cref="Delay"/> ± this (never below zero); zero otherwise.</summary>
    public TimeSpan Jitter { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the smallest piece in bytes (each piece's size is drawn from <see cref="MinSize"/> to <see cref="MaxSize"/>); 0 otherwise.</summary>
    public int MinSize { get; }

    /// <summary><see cref="EchoFaultType.Slice"/>: the largest piece in bytes; 0 otherwise.</summary>
    public int MaxSize { get; }

    /// <summary><see cref="EchoFaultType.Limit"/>: the bytes echoed before the connection ends (<c>bytes=</c>); 0 for the other types.</summary>
    public long ByteLimit => Type == EchoFaultType.Limit ? _bytes : 0;

    /// <summary><see cref="EchoFaultType.StallReads"/>: the bytes read before reading stops (<c>after=</c>); 0 for the other types.</summary>
    public long StallAfter => Type == EchoFaultType.StallReads ? _bytes : 0;

    /// <summary><see cref="EchoFaultType.Corrupt"/>: the mean number of echoed bytes per flipped bit (<c>every=</c>); 0 for the other types.</summary>
    public long CorruptEvery => Type == EchoFaultType.Corrupt ? _bytes : 0;

    /// <summary><see cref="EchoFaultType.Bandwidth"/>: the most bytes echoed per second on one connection; 0 otherwise.</summary>
    public long Rate { get; }

    /// <summary>
    /// How the connection ends: after the limit (<see cref="EchoFaultType.Limit"/>, <c>then=</c>, default
    /// <see cref="EchoFaultClose.Close"/>) or at accept (<see cref="EchoFaultType.Refuse"/>, <c>mode=</c>, default
    /// <see cref="EchoFaultClose.Reset"/>). <see cref="EchoFaultType.Reset"/> is always <see cref="EchoFaultClose.Reset"/>,
    /// <see cref="EchoFaultType.Blackhole"/> always <see cref="EchoFaultClose.Close"/>.
    /// </summary>
    public EchoFaultClose CloseMode { get; }

    /// <summary><see cref="EchoFaultType.Reset"/>: the time from accept to the reset, zero for at once, before any echo (<c>after=</c>); <see cref="TimeSpan.Zero"/> for the other types.</summary>
    public TimeSpan ResetAfter => Type == EchoFaultType.Reset ? _after.GetValueOrDefault() : TimeSpan.Zero;

    /// <summary><see cref="EchoFaultType.Blackhole"/>: the time from accept to a close (FIN), or <see langword="null"/> for never (<c>close-after=</c>); <see langword="null"/> for the other types.</summary>
    public TimeSpan? CloseAfter => Type == EchoFaultType.Blackhole ? _after : null;

    /// <summary>
    /// The fraction of connections (stream) or datagrams (UDP) the rule applies to, 0 to 1 (<c>toxicity=</c>), decided
    /// once per connection at accept or once per datagram. Defaults to 1.
    /// </summary>
    public double Toxicity { get; }

    /// <summary>
    /// The direction of a <see cref="FaultProxy"/> connection the rule acts on (<c>stream=upstream|downstream</c>).
    /// Defaults to <see cref="FaultDirection.Downstream"/>, as in Toxiproxy; an echo server applies the rule whatever it is.
    /// </summary>
    public FaultDirection Stream { get; }

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

    /// <summary>
    /// An accepted connection stays silent for <paramref name="delay"/>: an echo server reads (and greets) only after
    /// it, a fault proxy connects to its upstream only after it (<c>slow-open:delay=2s</c>). A slow or hung server at
    /// connect time, as clients with connect-and-handshake timeouts must handle.
    /// </summary>
    /// <param name="delay">The wait, more than zero.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static EchoFault SlowOpen(TimeSpan delay)
    {
        ThrowIf(delay == TimeSpan.Zero ? "must be more than zero" : CheckDuration(delay), nameof(delay), delay);
        return new EchoFault(EchoFaultType.SlowOpen, delay);
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
    public static EchoFault Corrupt(long every = FaultTypes.DefaultCorruptEvery)
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
        var value = hold ?? FaultTypes.DefaultReorderHold;
        ThrowIf(value == TimeSpan.Zero ? "must be more than zero" : CheckDuration(value), nameof(hold), value);
        return new EchoFault(EchoFaultType.Reorder, value);
    }

    /// <summary>The same rule with another <see cref="Toxicity"/>.</summary>
    /// <param name="toxicity">The fraction of connections the rule applies to, 0 to 1.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="toxicity"/> is not between 0 and 1.</exception>
    public EchoFault WithToxicity(double toxicity)
    {
        ThrowIf(CheckToxicity(toxicity), nameof(toxicity), toxicity);
        return Copy(toxicity, TargetTransport, TargetEndPoint, Stream);
    }

    /// <summary>The same rule on one direction of a <see cref="FaultProxy"/>'s connections (<c>stream=upstream</c>).</summary>
    /// <param name="stream">The direction the rule acts on.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stream"/> is not a defined value.</exception>
    public EchoFault WithStream(FaultDirection stream)
    {
        ThrowIf(Enum.IsDefined(stream) ? null : "must be Upstream or Downstream", nameof(stream), stream);
        return Copy(Toxicity, TargetTransport, TargetEndPoint, stream);
    }

    /// <summary>The same rule applied to one transport only (<c>on=tcp</c>, <c>on=tls</c>, <c>on=unix</c>, <c>on=udp</c>).</summary>
    /// <param name="transport">A transport the rule fits: stream rules fit TCP, TLS and Unix, datagram rules UDP.</param>
    /// <returns>The new rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The rule does not fit <paramref name="transport"/>.</exception>
    public EchoFault WithTarget(EchoTransport transport)
    {
        var info = FaultTypes.Of(Type);
        ThrowIf(info.Fits(transport) ? null : $"must be one {info.Name} fits ({info.TransportList})", nameof(transport), transport);
        return Copy(Toxicity, transport, null, Stream);
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

        return Copy(Toxicity, null, endPoint, Stream);
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
        if (!FaultTypes.Of(Type).Fits(transport))
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

    /// <summary>The range every duration of a rule keeps (a timer's): <see langword="null"/> when <paramref name="value"/> is in it, else the rule it breaks.</summary>
    internal static string? CheckDuration(TimeSpan value) =>
        value < TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue ? $"must be zero or more and at most {TimeSpan.FromMilliseconds(int.MaxValue)}" : null;

    private static string? CheckToxicity(double value) => value is >= 0 and <= 1 ? null : "must be from 0 to 1";

    private static void ThrowIf(string? rule, string parameter, object value)
    {
        if (rule is not null)
        {
            throw new ArgumentOutOfRangeException(parameter, value, $"The fault's {parameter} {rule} (was {value}).");
        }
    }

    /// <summary>The same rule with other keys that every rule takes: <c>toxicity</c>, <c>on</c> and <c>stream</c>.</summary>
    private EchoFault Copy(double toxicity, EchoTransport? targetTransport, EndPoint? targetEndPoint, FaultDirection stream) =>
        new(Type, _delay, Jitter, MinSize, MaxSize, _bytes, CloseMode, _after, toxicity, targetTransport, targetEndPoint, Rate, stream);
}
