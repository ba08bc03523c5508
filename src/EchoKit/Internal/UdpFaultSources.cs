using System.Numerics;

namespace EchoKit.Internal;

/// <summary>
/// The UDP sources one listener's fault rules have seen (address and port), each with its first-seen ordinal (1, 2,
/// 3, ... in the order the listener met them), the number of datagrams it sent so far and the datagram a
/// <c>reorder</c> holds back for it. A fixed table allocated once, so forged sources cannot grow memory: when it is
/// full, the source seen least recently is forgotten and its entry recycled. A forgotten source that comes back is a
/// new source (the next ordinal, its datagrams counted from 1 again), and a datagram held back for it is no longer
/// overtaken by its next one: it is echoed when its hold expires. Eviction follows the order of arrivals only (a
/// least-recently-seen list), never the hash, so the ordinals, and the decisions drawn from them, repeat for the same
/// sequence of datagrams whatever the process's hash seed. The index is open addressing with linear probing at a load
/// of at most one half, hashed with the per-process randomized <see cref="HashCode"/> so no sender can aim its
/// sources at one probe chain. Not thread-safe: <see cref="UdpFaultPath"/> uses it under its lock.
/// </summary>
internal sealed class UdpFaultSources
{
    private readonly Entry[] _entries;
    private readonly int[] _index;
    private readonly int _mask;
    private int _count;
    private int _newest = -1;
    private int _oldest = -1;
    private long _lastOrdinal;

    public UdpFaultSources(int capacity)
    {
        _entries = new Entry[Math.Max(1, capacity)];
        _index = new int[(int)BitOperations.RoundUpToPowerOf2((uint)_entries.Length * 2)];
        _mask = _index.Length - 1;
    }

    /// <summary>Sources the table holds at once.</summary>
    public int Capacity => _entries.Length;

    /// <summary>
    /// Notes one datagram from <paramref name="address"/>:<paramref name="port"/>: returns the source's entry, with its
    /// first-seen ordinal in <paramref name="source"/> and this datagram's number from that source (1 for its first) in
    /// <paramref name="datagram"/>. A new source takes a free entry, or the one of the source seen least recently.
    /// </summary>
    public int See(UdpSourceKey address, int port, out long source, out long datagram)
    {
        var hash = HashCode.Combine(address.High, address.Low, port);
        for (var i = hash & _mask; _index[i] != 0; i = (i + 1) & _mask)
        {
            var found = _index[i] - 1;
            ref var entry = ref _entries[found];
            if (entry.Hash == hash && entry.Port == port && entry.Address == address)
            {
                MakeNewest(found);
                source = entry.Ordinal;
                datagram = ++entry.Datagrams;
                return found;
            }
        }

        int e;
        if (_count < _entries.Length)
        {
            e = _count++;
        }
        else
        {
            e = _oldest;
            RemoveFromIndex(e);
            Unlink(e);
        }

        _entries[e] = new Entry { Address = address, Port = port, Hash = hash, Ordinal = ++_lastOrdinal, Datagrams = 1, Newer = -1, Older = -1 };
        var slot = hash & _mask;
        while (_index[slot] != 0)
        {
            slot = (slot + 1) & _mask;
        }

        _index[slot] = e + 1;
        LinkNewest(e);
        source = _lastOrdinal;
        datagram = 1;
        return e;
    }

    /// <summary>The datagram held back for the source of entry <paramref name="entry"/> (<c>reorder</c>), or <see langword="null"/>.</summary>
    public ref IUdpHeldDatagram? HeldAt(int entry) => ref _entries[entry].Held;

    private void MakeNewest(int e)
    {
        if (e != _newest)
        {
            Unlink(e);
            LinkNewest(e);
        }
    }

    private void LinkNewest(int e)
    {
        _entries[e].Older = _newest;
        _entries[e].Newer = -1;
        if (_newest >= 0)
        {
            _entries[_newest].Newer = e;
        }

        _newest = e;
        if (_oldest < 0)
        {
            _oldest = e;
        }
    }

    private void Unlink(int e)
    {
        ref var entry = ref _entries[e];
        if (entry.Newer >= 0)
        {
            _entries[entry.Newer].Older = entry.Older;
        }
        else
        {
            _newest = entry.Older;
        }

        if (entry.Older >= 0)
        {
            _entries[entry.Older].Newer = entry.Newer;
        }
        else
        {
            _oldest = entry.Newer;
        }
    }

    /// <summary>Removes entry <paramref name="e"/> from the index by backward shift, so no probe chain is broken and no tombstone builds up.</summary>
    private void RemoveFromIndex(int e)
    {
        var hole = _entries[e].Hash & _mask;
        while (_index[hole] != e + 1)
        {
            hole = (hole + 1) & _mask;
        }

        _index[hole] = 0;
        for (var j = (hole + 1) & _mask; _index[j] != 0; j = (j + 1) & _mask)
        {
            var home = _entries[_index[j] - 1].Hash & _mask;

            // The entry at j stays unless the hole lies between its home slot and j (cyclically).
            var stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (!stays)
            {
                _index[hole] = _index[j];
                _index[j] = 0;
                hole = j;
            }
        }
    }

    private struct Entry
    {
        public UdpSourceKey Address;
        public int Port;
        public int Hash;
        public long Ordinal;
        public long Datagrams;
        public int Newer;
        public int Older;
        public IUdpHeldDatagram? Held;
    }
}
