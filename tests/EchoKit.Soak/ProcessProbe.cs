using System.Globalization;
using System.Reflection;

namespace EchoKit.Soak;

/// <summary>What this process holds, read from /proc (Linux) and the runtime.</summary>
internal static class ProcessProbe
{
    private static readonly PropertyInfo? PoolOutstandingProperty =
        typeof(EchoServer).GetProperty("PoolOutstanding", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Resident set size (VmRSS) in bytes, or -1 where /proc is missing.</summary>
    public static long ResidentBytes() => StatusField("VmRSS:");

    /// <summary>Open file descriptors (entries of /proc/self/fd), or -1.</summary>
    public static int OpenDescriptors() =>
        Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : -1;

    /// <summary>Open sockets: descriptors that point at socket:[inode], or -1.</summary>
    public static int OpenSockets()
    {
        if (!Directory.Exists("/proc/self/fd"))
        {
            return -1;
        }

        var sockets = 0;
        foreach (var fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:", StringComparison.Ordinal))
                {
                    sockets++;
                }
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }

        return sockets;
    }

    /// <summary>The soft limit on open descriptors (Max open files in /proc/self/limits), or -1.</summary>
    public static long DescriptorLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var soft) ? soft : long.MaxValue;
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }

    /// <summary>Live managed bytes after a full blocking collection.</summary>
    public static long LiveManagedBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    /// <summary>
    /// The server's pooled connection objects and buffers not yet returned (an internal counter, read by reflection);
    /// (-1, -1) if this build of EchoKit has no such counter, in which case the pool checks are skipped.
    /// </summary>
    public static (long Connections, long Buffers) PoolOutstanding(EchoServer server) =>
        PoolOutstandingProperty?.GetValue(server) is ValueTuple<long, long> outstanding ? outstanding : (-1, -1);

    /// <summary>Whether every pooled object is back (or the counter is not available).</summary>
    public static bool PoolsReturned(EchoServer server) => PoolOutstanding(server) is (0, 0) or (-1, -1);

    private static long StatusField(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                {
                    var fields = line[name.Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(fields[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }
}
