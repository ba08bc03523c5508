namespace EchoKit.Benchmarks.Servers;

/// <summary>One echo server implementation under test, listening on 127.0.0.1.</summary>
public interface IBenchServer : IAsyncDisposable
{
    /// <summary>Starts listening on 127.0.0.1:<paramref name="port"/>; returns once connections are accepted.</summary>
    Task StartAsync(int port);
}

/// <summary>The servers under test, by name.</summary>
public static class BenchServers
{
    public const string EchoKit = "echokit";
    public const string Kestrel = "kestrel";
    public const string DotNetty = "dotnetty";
    public const string Naive = "naive";

    /// <summary>EchoKit with a 64 KiB receive buffer instead of 8 KiB; for diagnosis, not in the default set.</summary>
    public const string EchoKit64K = "echokit-64k";

    /// <summary>EchoKit without the zero-byte receive before each buffer rental; for diagnosis, not in the default set.</summary>
    public const string EchoKitNoWait = "echokit-nowait";

    /// <summary>The default comparison set.</summary>
    public static readonly IReadOnlyList<string> All = [EchoKit, Kestrel, DotNetty, Naive];

    /// <summary>Every server <see cref="Create"/> knows.</summary>
    public static readonly IReadOnlyList<string> Known = [.. All, EchoKit64K, EchoKitNoWait];

    public static IBenchServer Create(string name) => name switch
    {
        EchoKit => new EchoKitBenchServer(),
        EchoKit64K => new EchoKitBenchServer(o => o.ReceiveBufferSize = 64 * 1024),
        EchoKitNoWait => new EchoKitBenchServer(o => o.WaitForDataBeforeAllocatingBuffer = false),
        Kestrel => new KestrelBenchServer(),
        DotNetty => new DotNettyBenchServer(),
        Naive => new NaiveBenchServer(),
        _ => throw new ArgumentException($"Unknown server '{name}'; expected one of {string.Join(", ", Known)}.", nameof(name)),
    };
}
