using System.Diagnostics;
using System.Numerics;

namespace EchoKit.Internal;

/// <summary>
/// A token bucket per source address (<see cref="UdpEchoOptions.PerSourceRateLimit"/> tokens per second, holding one
/// second's worth) in a fixed table allocated once, so forged sources cannot grow memory. The table is 4-way set
/// associative, indexed by a per-process randomized hash (<see cref="HashCode"/>), so an attacker cannot aim sources
/// at one set. A new source replaces the entry of its set that is cheapest to forget: an entry whose bucket has
/// refilled holds no information (forgetting it changes nothing); otherwise the fullest bucket, but never a source
/// that is being throttled (it was refused and has not been allowed since) while another candidate exists, so a
/// flood of forged sources cannot buy the throttled one a fresh bucket. One server shares one limiter across its
/// UDP listeners.
/// </summary>
internal sealed class UdpRateLimiter
{
    private const int Ways = 4;

    private readonly Lock _lock = new();
    private readonly Entry[] _entries;
    private readonly int _setMask;
    private readonly double _capacity;
    private readonly double _tokensPerTick;

    public UdpRateLimiter(int datagramsPerSecond, int trackedSources)
    {
        var sets = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, (trackedSources + Ways - 1) / Ways));
        _entries = new Entry[sets * Ways];
        _setMask = sets - 1;
        _capacity = datagramsPerSecond;
        _tokensPerTick = datagramsPerSecond / (double)Stopwatch.Frequency;
    }

    /// <summary>Sources the table can hold at once.</summary>
    public int Capacity => _entries.Length;

    /// <summary>Takes a token from <paramref name="source"/>'s bucket; returns <see langword="false"/> when it is empty.</summary>
    public bool TryTake(UdpSourceKey source)
    {
        var now = Stopwatch.GetTimestamp();
        var set = (HashCode.Combine(source.High, source.Low) & _setMask) * Ways;
        lock (_lock)
        {
            var victim = set;
            var victimScore = double.MinValue;
            for (var i = set; i < set + Ways; i++)
            {
                ref var entry = ref _entries[i];
                if (!entry.InUse)
                {
                    if (victimScore < double.MaxValue)
                    {
                        victim = i;
                        victimScore = double.MaxValue;
                    }

                    continue;
                }

                var tokens = Math.Min(_capacity, entry.Tokens + ((now - entry.Refilled) * _tokensPerTick));
                if (entry.Source == source)
                {
                    entry.Refilled = now;
                    entry.Throttled = tokens < 1;
                    entry.Tokens = entry.Throttled ? tokens : tokens - 1;
                    return !entry.Throttled;
                }

                // Forgetting a refilled bucket loses nothing; a throttled source is forgotten only when every candidate is.
                var score = tokens >= _capacity || !entry.Throttled ? tokens : tokens - _capacity - 1;
                if (score > victimScore)
                {
                    victim = i;
                    victimScore = score;
                }
            }

            _entries[victim] = new Entry { Source = source, Refilled = now, Tokens = _capacity - 1, InUse = true };
            return true;
        }
    }

    private struct Entry
    {
        public UdpSourceKey Source;
        public long Refilled;
        public double Tokens;
        public bool InUse;

        /// <summary>Refused a datagram and not allowed one since.</summary>
        public bool Throttled;
    }
}
