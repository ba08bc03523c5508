namespace EchoKit.LoadGenerator.Internal;

/// <summary>Counts errors from many threads and keeps the first message.</summary>
internal sealed class ErrorCollector
{
    private long _count;
    private string? _first;

    public long Count => Interlocked.Read(ref _count);

    public string? First => Volatile.Read(ref _first);

    public void Add(string message)
    {
        Interlocked.Increment(ref _count);
        Interlocked.CompareExchange(ref _first, message, null);
    }
}
