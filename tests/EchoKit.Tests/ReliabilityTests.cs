using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace EchoKit.Tests;

/// <summary>
/// The reliability suite (docs/RELIABILITY.md): abuse, fault and load scenarios that each record their figures
/// (run with <c>--logger "console;verbosity=detailed"</c> to see them) and assert that nothing is lost and nothing
/// leaks. They measure the whole process (managed heap, open descriptors, thread pool), so they run alone.
/// </summary>
[CollectionDefinition(nameof(ReliabilityTests), DisableParallelization = true)]
public class ReliabilityTestsDefinition;

[Collection(nameof(ReliabilityTests))]
public sealed partial class ReliabilityTests(ITestOutputHelper output)
{
    private const int KiB = 1024;
    private const int MiB = 1024 * 1024;

    /// <summary>The default <see cref="EchoServerOptions.ReceiveBufferSize"/>, read from the options.</summary>
    private static readonly int ReceiveBufferSize = new EchoServerOptions().ReceiveBufferSize;

    /// <summary>Records one figure: shown in the test output and easy to grep (<c>FIGURE</c>).</summary>
    private void Figure(string scenario, string text) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FIGURE {scenario}: {text}"));

    private static string Mb(long bytes) => (bytes / (double)MiB).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    private static ConcurrentQueue<ConnectionClosedEventArgs> TrackClosed(EchoServer server)
    {
        var closed = new ConcurrentQueue<ConnectionClosedEventArgs>();
        server.ConnectionClosed += (_, e) => closed.Enqueue(e);
        return closed;
    }
}

/// <summary>What the test process holds: open descriptors, resident memory and the managed heap.</summary>
internal static class ReliabilityProbe
{
    /// <summary>Open file descriptors of this process (<c>/proc/self/fd</c>), or -1 where that does not exist.</summary>
    public static int OpenDescriptors() =>
        Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : -1;

    /// <summary>Open sockets of this process: descriptors that point at <c>socket:[inode]</c>; -1 where /proc does not exist.</summary>
    public static int OpenSockets() =>
        Directory.Exists("/proc/self/fd") ? DescribeDescriptors().Values.Count(t => t.StartsWith("socket:", StringComparison.Ordinal)) : -1;

    /// <summary>What each open descriptor points at (socket:[inode], anon_inode:[eventpoll], a path...), for diagnosing a difference.</summary>
    public static Dictionary<string, string> DescribeDescriptors()
    {
        var result = new Dictionary<string, string>();
        if (!Directory.Exists("/proc/self/fd"))
        {
            return result;
        }

        foreach (var fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                result[Path.GetFileName(fd)] = new FileInfo(fd).LinkTarget ?? "?";
            }
            catch (IOException)
            {
            }
        }

        return result;
    }

    /// <summary>Live managed bytes after a full, compacting collection.</summary>
    public static long LiveManagedBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Resident set size (VmRSS of <c>/proc/self/status</c>) in bytes, or -1.</summary>
    public static long ResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }

    /// <summary>
    /// Waits for the count of open sockets to come back to <paramref name="baseline"/> (a disposed socket's descriptor
    /// is closed at once, but one with an operation in flight is closed by the runtime a moment later); returns the
    /// last count seen. Other descriptors (the runtime maps assemblies it loads on first use) are not counted.
    /// </summary>
    public static async Task<int> WaitForSocketsAsync(int baseline)
    {
        var deadline = DateTime.UtcNow + TestHelpers.Timeout;
        int now;
        while ((now = OpenSockets()) > baseline && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        return now;
    }
}

/// <summary>Clients from many loopback source addresses (127.0.0.0/8), so per-address limits and port ranges can be exercised.</summary>
internal static class ReliabilityClients
{
    /// <summary>127.0.0.<paramref name="host"/> (host 1 … 254).</summary>
    public static IPAddress Source(int host) => new([127, 0, 0, (byte)host]);

    /// <summary>
    /// Connects from <paramref name="source"/>. <paramref name="maxSegmentSize"/> sets TCP_MAXSEG before connecting (Linux),
    /// so loopback behaves like a real network path instead of one with a 64 KiB MSS.
    /// </summary>
    public static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint server, int receiveBufferSize = 0, int maxSegmentSize = 0)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBufferSize > 0)
            {
                socket.ReceiveBufferSize = receiveBufferSize;
            }

            if (maxSegmentSize > 0 && OperatingSystem.IsLinux())
            {
                const int IpProtoTcp = 6, TcpMaxSeg = 2;
                socket.SetRawSocketOption(IpProtoTcp, TcpMaxSeg, BitConverter.GetBytes(maxSegmentSize));
            }

            socket.Bind(new IPEndPoint(source, 0));
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            await socket.ConnectAsync(server, cts.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="payload"/> in chunks while another task reads the echo back; returns what was read.</summary>
    public static async Task<byte[]> EchoConcurrentlyAsync(Socket socket, byte[] payload, int chunkSize, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TestHelpers.Timeout);
        var echoed = new byte[payload.Length];
        var send = Task.Run(
            async () =>
            {
                for (var offset = 0; offset < payload.Length; offset += chunkSize)
                {
                    var chunk = payload.AsMemory(offset, Math.Min(chunkSize, payload.Length - offset));
                    while (!chunk.IsEmpty)
                    {
                        chunk = chunk[await socket.SendAsync(chunk, SocketFlags.None, cts.Token)..];
                    }
                }
            },
            CancellationToken.None);
        var receive = Task.Run(
            async () =>
            {
                var offset = 0;
                while (offset < echoed.Length)
                {
                    var read = await socket.ReceiveAsync(echoed.AsMemory(offset), SocketFlags.None, cts.Token);
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"The server closed after {offset} of {echoed.Length} bytes.");
                    }

                    offset += read;
                }
            },
            CancellationToken.None);

        try
        {
            await Task.WhenAll(send, receive);
        }
        catch
        {
            await cts.CancelAsync();
            await Task.WhenAll(send, receive).ContinueWith(static _ => { }, TaskScheduler.Default);
            throw;
        }

        return echoed;
    }

    /// <summary>Reads until a clean end of stream; a reset fails.</summary>
    public static async Task<byte[]> ReceiveUntilEndOfStreamAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }
}

/// <summary>
/// Records every exception that escapes to the process (<see cref="AppDomain.UnhandledException"/>) or is left
/// unobserved in a task (<see cref="TaskScheduler.UnobservedTaskException"/>) while it is alive. Earlier tests'
/// garbage is finalized before it starts listening, and its own window's garbage before <see cref="AssertNone"/>.
/// </summary>
internal sealed class EscapedExceptionGuard : IDisposable
{
    private readonly ConcurrentQueue<Exception> _escaped = new();

    public EscapedExceptionGuard()
    {
        Flush();
        AppDomain.CurrentDomain.UnhandledException += OnUnhandled;
        TaskScheduler.UnobservedTaskException += OnUnobserved;
    }

    public void AssertNone()
    {
        Flush();
        Assert.True(_escaped.IsEmpty, "exceptions escaped: " + string.Join(Environment.NewLine, _escaped));
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.UnhandledException -= OnUnhandled;
        TaskScheduler.UnobservedTaskException -= OnUnobserved;
    }

    private static void Flush()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    private void OnUnhandled(object? sender, UnhandledExceptionEventArgs e) =>
        _escaped.Enqueue(e.ExceptionObject as Exception ?? new InvalidOperationException(e.ExceptionObject?.ToString()));

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => _escaped.Enqueue(e.Exception);
}
