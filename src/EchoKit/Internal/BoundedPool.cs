namespace EchoKit.Internal;

/// <summary>
/// A small LIFO pool that keeps at most a fixed number of idle items and counts what is out, so tests can
/// check that every rented item came back exactly once. LIFO keeps the most recently used (cache-warm) items in play.
/// </summary>
internal sealed class BoundedPool<T>
    where T : class
{
    private readonly Func<T> _factory;
    private readonly T?[] _items;
    private readonly Lock _lock = new();
    private int _count;
    private long _rented;

    public BoundedPool(Func<T> factory, int maxRetained)
    {
        _factory = factory;
        _items = new T?[maxRetained];
    }

    /// <summary>Items rented and not yet returned.</summary>
    public long Outstanding => Volatile.Read(ref _rented);

    public T Rent()
    {
        lock (_lock)
        {
            _rented++;
            if (_count > 0)
            {
                var item = _items[--_count]!;
                _items[_count] = null;
                return item;
            }
        }

        return _factory();
    }

    /// <summary>Returns an item; returns <see langword="false"/> when the pool is full and the caller should dispose it.</summary>
    public bool Return(T item)
    {
        lock (_lock)
        {
            _rented--;
            if (_count < _items.Length)
            {
                _items[_count++] = item;
                return true;
            }
        }

        return false;
    }

    /// <summary>Takes every idle item out of the pool, for disposal.</summary>
    public T[] Drain()
    {
        lock (_lock)
        {
            var items = new T[_count];
            for (var i = 0; i < _count; i++)
            {
                items[i] = _items[i]!;
                _items[i] = null;
            }

            _count = 0;
            return items;
        }
    }
}
