using System.Diagnostics;
using System.Net;

namespace EchoKit.Internal;

/// <summary>
/// Whether a new connection may be served: <see cref="EchoServerOptions.MaxConnectionRate"/>,
/// <see cref="EchoServerOptions.MaxConnections"/> and <see cref="EchoServerOptions.MaxConnectionsPerAddress"/>, in
/// that order. Not thread-safe: the <see cref="ConnectionSet"/> calls it under its lock.
/// </summary>
internal sealed class ConnectionAdmission
{
    private readonly ConnectionQuota _connections;
    private readonly int? _maxPerAddress;
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly TokenBucket? _rate;

    public ConnectionAdmission(EchoServerOptions options)
    {
        _connections = new ConnectionQuota(options.MaxConnections);
        _maxPerAddress = options.MaxConnectionsPerAddress;
        _rate = options.MaxConnectionRate is { } rate ? new TokenBucket(rate) : null;
    }

    /// <summary>Takes a slot for a connection from <paramref name="remoteAddress"/> (known when a per-address limit is on).</summary>
    public bool TryAdmit(IPAddress? remoteAddress, out ConnectionRejectionReason rejection)
    {
        var perAddress = 0;
        if (_rate is not null && !_rate.TryTake())
        {
            rejection = ConnectionRejectionReason.RateLimited;
            return false;
        }

        if (!_connections.CanTake)
        {
            rejection = ConnectionRejectionReason.MaxConnectionsExceeded;
            return false;
        }

        if (remoteAddress is not null && _maxPerAddress is { } max && _perAddress.TryGetValue(remoteAddress, out perAddress) && perAddress >= max)
        {
            rejection = ConnectionRejectionReason.MaxConnectionsPerAddressExceeded;
            return false;
        }

        if (remoteAddress is not null && _maxPerAddress is not null)
        {
            _perAddress[remoteAddress] = perAddress + 1;
        }

        _connections.Take();
        rejection = default;
        return true;
    }

    /// <summary>
    /// The per-address part of <see cref="TryAdmit"/>, for a connection admitted without an address whose real one
    /// became known later (from its PROXY header); on failure the connection keeps only its general slot.
    /// </summary>
    public bool TryAdmitAddress(IPAddress remoteAddress)
    {
        if (_maxPerAddress is not { } max)
        {
            return true;
        }

        _perAddress.TryGetValue(remoteAddress, out var perAddress);
        if (perAddress >= max)
        {
            return false;
        }

        _perAddress[remoteAddress] = perAddress + 1;
        return true;
    }

    /// <summary>Gives back the slot of a connection that was admitted.</summary>
    public void Release(IPAddress? remoteAddress)
    {
        _connections.Return();
        if (remoteAddress is not null && _perAddress.TryGetValue(remoteAddress, out var count))
        {
            if (count <= 1)
            {
                _perAddress.Remove(remoteAddress);
            }
            else
            {
                _perAddress[remoteAddress] = count - 1;
            }
        }
    }
}

/// <summary>
/// Slots held against a limit, in the spirit of Kestrel's <c>ResourceCounter</c>; without its interlocking, because
/// its one user calls it under a lock.
/// </summary>
internal sealed class ConnectionQuota(long limit)
{
    private long _held;

    public bool CanTake => _held < limit;

    public void Take() => _held++;

    public void Return() => _held--;
}

/// <summary>A token bucket of <c>rate</c> tokens per second that holds one second's worth and refills continuously. Not thread-safe.</summary>
internal sealed class TokenBucket(int rate)
{
    private double _tokens = rate;
    private long _refilledAt = Stopwatch.GetTimestamp();

    public bool TryTake()
    {
        var now = Stopwatch.GetTimestamp();
        _tokens = Math.Min(rate, _tokens + (Stopwatch.GetElapsedTime(_refilledAt, now).TotalSeconds * rate));
        _refilledAt = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens--;
        return true;
    }
}
