using System.Net;

namespace EchoKit.LoadGenerator;

/// <summary>Where load goes and from which local addresses; shared by every load mode.</summary>
public class LoadTarget
{
    /// <summary>The echo server to load. Must be a loopback address unless <see cref="AllowNonLoopback"/> is set.</summary>
    public required IPEndPoint EndPoint { get; init; }

    /// <summary>
    /// Local addresses to spread connections over (round-robin), for example 127.0.0.2..127.0.0.9 when one
    /// source address would run out of ephemeral ports. Empty: let the operating system choose.
    /// </summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; init; } = [];

    /// <summary>How long one connection attempt may take before it counts as an error. Defaults to 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connection attempts in progress at once while connecting. Defaults to 64.</summary>
    public int ConnectConcurrency { get; init; } = 64;

    /// <summary>
    /// Permits a target or source address outside the loopback range. Off by default so a mistyped address can
    /// never send load to another machine.
    /// </summary>
    public bool AllowNonLoopback { get; init; }

    /// <summary>Throws when a setting is invalid.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message says which.</exception>
    public virtual void Validate()
    {
        if (EndPoint is null)
        {
            throw new ArgumentException("EndPoint is required.", nameof(EndPoint));
        }

        if (!AllowNonLoopback && !IPAddress.IsLoopback(EndPoint.Address))
        {
            throw new ArgumentException($"EndPoint {EndPoint} is not a loopback address; set AllowNonLoopback to load another machine.", nameof(EndPoint));
        }

        foreach (var source in SourceAddresses)
        {
            if (source is null || source.AddressFamily != EndPoint.AddressFamily)
            {
                throw new ArgumentException($"Every source address must be of the target's address family ({EndPoint.AddressFamily}).", nameof(SourceAddresses));
            }

            if (!AllowNonLoopback && !IPAddress.IsLoopback(source))
            {
                throw new ArgumentException($"Source address {source} is not a loopback address.", nameof(SourceAddresses));
            }
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ConnectTimeout must be positive.", nameof(ConnectTimeout));
        }

        if (ConnectConcurrency < 1)
        {
            throw new ArgumentException("ConnectConcurrency must be at least 1.", nameof(ConnectConcurrency));
        }
    }

    internal IPAddress? SourceFor(int index) =>
        SourceAddresses.Count == 0 ? null : SourceAddresses[index % SourceAddresses.Count];

    /// <summary>127.0.0.2, 127.0.0.3, … (<paramref name="count"/> addresses): extra loopback source addresses for many connections.</summary>
    /// <param name="count">How many addresses, 0 to 250.</param>
    /// <returns>The addresses.</returns>
    public static IReadOnlyList<IPAddress> LoopbackSources(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 250);
        var addresses = new IPAddress[count];
        for (var i = 0; i < count; i++)
        {
            addresses[i] = new IPAddress(new byte[] { 127, 0, 0, (byte)(i + 2) });
        }

        return addresses;
    }
}

/// <summary>Settings of a load that runs for a warm-up and then a measured duration.</summary>
public abstract class TimedLoadOptions : LoadTarget
{
    /// <summary>Bytes per message (for churn: echoed on each connection; for UDP: per datagram). Defaults to 64.</summary>
    public int MessageSize { get; init; } = 64;

    /// <summary>How long to measure, after the warm-up. Defaults to 5 s.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to run before measuring (JIT, pools, TCP windows). Defaults to 1 s.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Called (on a thread-pool thread) when the measurement window opens, for example to sample server CPU time.</summary>
    public Action? MeasurementStarted { get; init; }

    /// <summary>Called when the measurement window closes.</summary>
    public Action? MeasurementEnded { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(24))
        {
            throw new ArgumentException("Duration must be positive and at most 24 hours.", nameof(Duration));
        }

        if (Warmup < TimeSpan.Zero || Warmup > TimeSpan.FromHours(1))
        {
            throw new ArgumentException("Warmup must be between 0 and 1 hour.", nameof(Warmup));
        }
    }
}

/// <summary>Settings of a pipelined echo load (<see cref="LoadClient.RunEchoAsync"/>).</summary>
public sealed class EchoLoadOptions : TimedLoadOptions
{
    /// <summary>Concurrent connections. Defaults to 1.</summary>
    public int Connections { get; init; } = 1;

    /// <summary>
    /// Messages in flight per connection: the client sends this many, then one more for each message fully
    /// echoed back. Defaults to 1 (ping-pong).
    /// </summary>
    public int MessagesInFlight { get; init; } = 1;

    /// <summary>How long, after the measurement, connections may take to receive the echoes still in flight. Defaults to 10 s.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Live counters to read while the run goes on (a progress display); <see langword="null"/> for none.</summary>
    public LoadProgress? Progress { get; init; }

    /// <summary>
    /// Whether each connection first sends a PROXY protocol header (v1 text or v2 binary) carrying its own socket's
    /// local address as the source and the server's as the destination, so a server that expects one
    /// (<c>--proxy-protocol</c>) can be loaded directly, without a balancer. Defaults to <see cref="ProxyHeaderVersion.None"/>.
    /// </summary>
    public ProxyHeaderVersion ProxyHeader { get; init; }

    /// <summary>
    /// Whether each connection first reads one line the server sends on accept (a greeting, up to <c>\n</c>, at most
    /// <see cref="MaxGreetingLength"/> bytes, within <see cref="LoadTarget.ConnectTimeout"/>), which is kept out of the echo
    /// verification; the result counts connections per distinct greeting (<see cref="EchoLoadResult.Greetings"/>).
    /// Defaults to <see langword="false"/>.
    /// </summary>
    public bool ReadGreeting { get; init; }

    /// <summary>The longest greeting line read, its line end included: 1 KiB.</summary>
    public const int MaxGreetingLength = 1024;

    /// <summary>
    /// Whether a connection the server closes or resets is opened again (after a failed attempt, retried every 10 ms
    /// to 200 ms) until the run ends, as a client behind a balancer does through a rolling restart. The messages it
    /// had sent and not got back whole are counted in <see cref="EchoLoadResult.FailedEchoes"/>; a close between
    /// echoes costs none. Defaults to <see langword="false"/>: the server ending a connection is an error.
    /// </summary>
    public bool Reconnect { get; init; }

    /// <summary>
    /// A constant rate of messages per second, all connections together (an open model, as wrk2 does): each
    /// connection sends on its own schedule whether or not the echoes keep up, within
    /// <see cref="MessagesInFlight"/>, and each latency runs from the time the message was due, not when it could be
    /// sent, so a stalled server shows in the percentiles instead of slowing the load (coordinated omission). A
    /// message may leave up to 2 ms before it is due (the timer's resolution; its latency then runs from when it left).
    /// <see langword="null"/> (the default) sends as fast as the echoes come back (a closed model).
    /// </summary>
    public double? MessagesPerSecond { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Connections < 1)
        {
            throw new ArgumentException("Connections must be at least 1.", nameof(Connections));
        }

        if (MessageSize < 1 || MessageSize > 64 * 1024 * 1024)
        {
            throw new ArgumentException("MessageSize must be between 1 byte and 64 MiB.", nameof(MessageSize));
        }

        if (MessagesInFlight < 1 || (long)MessagesInFlight * MessageSize > 256L * 1024 * 1024)
        {
            throw new ArgumentException("MessagesInFlight must be at least 1, and MessagesInFlight × MessageSize at most 256 MiB.", nameof(MessagesInFlight));
        }

        if (DrainTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("DrainTimeout must be positive.", nameof(DrainTimeout));
        }

        if (MessagesPerSecond is { } rate && (!double.IsFinite(rate) || rate <= 0 || rate > 100_000_000))
        {
            throw new ArgumentException($"MessagesPerSecond must be greater than 0 and at most 100,000,000 (was {rate}).", nameof(MessagesPerSecond));
        }

        if (!Enum.IsDefined(ProxyHeader))
        {
            throw new ArgumentException($"ProxyHeader must be None, V1 or V2 (was {ProxyHeader}).", nameof(ProxyHeader));
        }
    }
}

/// <summary>Which PROXY protocol header a load connection sends first (see <see cref="EchoLoadOptions.ProxyHeader"/>).</summary>
public enum ProxyHeaderVersion
{
    /// <summary>No header.</summary>
    None,

    /// <summary>Version 1: one text line, <c>PROXY TCP4 src dst sport dport\r\n</c>.</summary>
    V1,

    /// <summary>Version 2: the binary header, PROXY command, TCP over IPv4 or IPv6.</summary>
    V2,
}

/// <summary>Settings of a connection-churn load (<see cref="LoadClient.RunChurnAsync"/>): connect, echo one message, close.</summary>
public sealed class ChurnOptions : TimedLoadOptions
{
    /// <summary>Workers that each connect, echo and close in a loop. Defaults to 16.</summary>
    public int Concurrency { get; init; } = 16;

    /// <summary>Whether each connection first sends a PROXY protocol header, as <see cref="EchoLoadOptions.ProxyHeader"/>. Defaults to <see cref="ProxyHeaderVersion.None"/>.</summary>
    public ProxyHeaderVersion ProxyHeader { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (!Enum.IsDefined(ProxyHeader))
        {
            throw new ArgumentException($"ProxyHeader must be None, V1 or V2 (was {ProxyHeader}).", nameof(ProxyHeader));
        }

        if (Concurrency < 1)
        {
            throw new ArgumentException("Concurrency must be at least 1.", nameof(Concurrency));
        }

        if (MessageSize < 1 || MessageSize > 1024 * 1024)
        {
            throw new ArgumentException("MessageSize must be between 1 byte and 1 MiB.", nameof(MessageSize));
        }
    }
}

/// <summary>Settings for opening many idle connections (<see cref="LoadClient.OpenIdleAsync"/>).</summary>
public sealed class IdleOptions : LoadTarget
{
    /// <summary>Connections to open. Defaults to 1,000.</summary>
    public int Connections { get; init; } = 1000;

    /// <summary>Bytes echoed once on each connection after it opens (and again by <see cref="IdleConnectionSet.VerifyAsync"/>). Defaults to 16.</summary>
    public int MessageSize { get; init; } = 16;

    /// <summary>How long one echo may take. Defaults to 10 s.</summary>
    public TimeSpan EchoTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Connections < 1 || Connections > 1_000_000)
        {
            throw new ArgumentException("Connections must be between 1 and 1,000,000.", nameof(Connections));
        }

        if (MessageSize < 1 || MessageSize > 64 * 1024)
        {
            throw new ArgumentException("MessageSize must be between 1 byte and 64 KiB.", nameof(MessageSize));
        }

        if (EchoTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("EchoTimeout must be positive.", nameof(EchoTimeout));
        }
    }
}

/// <summary>Settings of a non-reading client load (<see cref="LoadClient.RunNoReadAsync"/>): send, never read.</summary>
public sealed class NoReadOptions : LoadTarget
{
    /// <summary>Connections that send and never read. Defaults to 200.</summary>
    public int Connections { get; init; } = 200;

    /// <summary>Bytes each connection tries to send. Defaults to 4 MiB.</summary>
    public long BytesPerConnection { get; init; } = 4L * 1024 * 1024;

    /// <summary>How long to keep trying to send before giving up and closing. Defaults to 5 s.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The client's socket receive buffer, kept small so the kernel cannot absorb the echo on the client's side
    /// and the server has to hold (or stop reading) what it cannot send. Defaults to 4 KiB.
    /// </summary>
    public int ClientReceiveBufferSize { get; init; } = 4096;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Connections < 1 || Connections > 100_000)
        {
            throw new ArgumentException("Connections must be between 1 and 100,000.", nameof(Connections));
        }

        if (BytesPerConnection < 1 || BytesPerConnection > 1L << 34)
        {
            throw new ArgumentException("BytesPerConnection must be between 1 byte and 16 GiB.", nameof(BytesPerConnection));
        }

        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(24))
        {
            throw new ArgumentException("Duration must be positive and at most 24 hours.", nameof(Duration));
        }

        if (ClientReceiveBufferSize < 1)
        {
            throw new ArgumentException("ClientReceiveBufferSize must be positive.", nameof(ClientReceiveBufferSize));
        }
    }
}
