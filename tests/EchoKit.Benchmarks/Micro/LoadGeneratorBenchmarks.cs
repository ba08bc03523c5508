using BenchmarkDotNet.Attributes;
using EchoKit.LoadGenerator;

namespace EchoKit.Benchmarks.Micro;

/// <summary>What the load client spends per message on building, verifying and timing it (it must stay far below a round trip).</summary>
[MemoryDiagnoser]
public class LoadGeneratorBenchmarks
{
    private readonly LatencyHistogram _histogram = new();
    private MessagePattern _pattern = null!;
    private byte[] _message = null!;
    private long _sequence;

    [Params(32, 16 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pattern = new MessagePattern(Size);
        _message = new byte[Size];
        _pattern.Write(7, 0, _message);
    }

    [Benchmark]
    public void WriteMessage() => _pattern.Write(7, _sequence++ & 1, _message);

    /// <summary>A full, successful comparison of every byte (the message is sequence 0).</summary>
    [Benchmark]
    public bool VerifyMessage() => _pattern.Verify(7, 0, 0, _message);

    [Benchmark]
    public void RecordLatency() => _histogram.Record(_sequence++ & 0xFFFFF);
}
