namespace EchoKit.Internal;

/// <summary>What every UDP listener of one server applies to each datagram: the size limit, the blocked source ports and the rate limiter.</summary>
internal sealed class UdpEchoPolicy
{
    private readonly ulong[] _blockedPorts = new ulong[65536 / 64];

    public UdpEchoPolicy(UdpEchoOptions options)
    {
        MaxDatagramSize = options.MaxDatagramSize;
        DatagramsInFlight = options.DatagramsInFlight;
        foreach (var port in options.BlockedSourcePorts)
        {
            _blockedPorts[port >> 6] |= 1UL << (port & 63);
        }

        RateLimiter = options.PerSourceRateLimit is { } rate ? new UdpRateLimiter(rate, options.MaxTrackedSources) : null;
    }

    public int MaxDatagramSize { get; }

    public int DatagramsInFlight { get; }

    /// <summary>The per-source token buckets, or <see langword="null"/> when <see cref="UdpEchoOptions.PerSourceRateLimit"/> is off.</summary>
    public UdpRateLimiter? RateLimiter { get; }

    public bool IsBlockedPort(int port) => (_blockedPorts[port >> 6] & (1UL << (port & 63))) != 0;
}
