using System.Globalization;
using System.Runtime.InteropServices;

namespace EchoKit.Internal;

/// <summary>
/// What the descriptor limit leaves a server, measured once at its start: the <c>RLIMIT_NOFILE</c> soft limit,
/// the descriptors open then, and the <see cref="Margin"/> kept for the runtime. Accepted sockets are kept out of
/// the top <see cref="Margin"/> descriptor numbers (<see cref="IsInMargin"/>): the kernel hands out the lowest
/// free number, so a socket numbered there means fewer than <see cref="Margin"/> descriptors are left.
/// </summary>
/// <param name="SoftLimit">The soft <c>RLIMIT_NOFILE</c>; <see cref="long.MaxValue"/> when unlimited.</param>
/// <param name="OpenAtStart">Descriptors open when measured (the runtime's, the host's, the listeners').</param>
/// <param name="Margin">Descriptors left to the runtime; see <see cref="DescriptorLimit.RuntimeMargin"/>.</param>
internal readonly record struct DescriptorBudget(long SoftLimit, int OpenAtStart, int Margin)
{
    /// <summary>The lowest descriptor number inside the margin.</summary>
    public long Threshold => SoftLimit == long.MaxValue ? long.MaxValue : SoftLimit - Margin;

    /// <summary>How many connections fit at once: the soft limit less what was open and the margin.</summary>
    public long Capacity => SoftLimit == long.MaxValue ? long.MaxValue : Math.Max(0, SoftLimit - OpenAtStart - Margin);

    /// <summary>Whether an accepted socket's descriptor is one the runtime may need: close it instead of serving it.</summary>
    public bool IsInMargin(nint descriptor) => descriptor >= Threshold;

    /// <summary>Whether <paramref name="maxConnections"/> connections fit under the limit at once.</summary>
    public bool Fits(int maxConnections) => maxConnections <= Capacity;
}

/// <summary>
/// Reads the process's descriptor limit and use on Unix. Why a margin: a server that lets its sockets take every
/// descriptor gets killed by the runtime, not by a failed accept. Every thread the runtime starts (thread pool
/// workers, the gate thread) makes a <c>pipe2</c> to start suspended; when that fails with <c>EMFILE</c> the PAL
/// reports <c>ERROR_NOT_ENOUGH_MEMORY</c>, <c>Thread.Start</c> throws <see cref="OutOfMemoryException"/> on a
/// thread pool worker, and the process aborts ("Out of memory.", SIGABRT). Seen with strace at
/// <c>ulimit -n 256</c> and 400 waiting clients, 5 runs in 6.
/// </summary>
internal static class DescriptorLimit
{
    // Linux (asm-generic, every architecture .NET runs on) numbers RLIMIT_NOFILE 7; the BSDs and macOS 8.
    private const int LinuxRlimitNofile = 7;
    private const int BsdRlimitNofile = 8;

    /// <summary>Whether descriptors are limited and countable here (Linux, macOS, FreeBSD); Windows sockets are handles, not descriptors.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

    /// <summary>
    /// Descriptors the runtime needs beyond what is open at start, measured with strace on .NET 10 (see the
    /// issue 10 notes): a thread start holds 3 at once (the new thread's <c>pipe2</c> pair while its creator
    /// writes <c>/proc/self/task/N/comm</c>), and the thread pool starts workers below its minimum
    /// (<see cref="Environment.ProcessorCount"/>) synchronously from whichever worker asks, so up to
    /// ProcessorCount + 1 (the gate thread) starts overlap. On top: each assembly loaded later keeps 2 (8 of them:
    /// 16), a native library load (OpenSSL at the first TLS handshake) 2 for a moment, a diagnostics client
    /// (dotnet-counters) 2, the reserve descriptor 1, 3 to spare; and each listener's accept that is closed at once 1.
    /// </summary>
    public static int RuntimeMargin(int processorCount, int listeners) =>
        24 + (3 * (Math.Clamp(processorCount, 1, 32) + 1)) + Math.Max(0, listeners);

    /// <summary>Measures the budget now, or returns <see langword="null"/> where descriptors cannot be read.</summary>
    public static DescriptorBudget? Measure(int listeners)
    {
        if (ReadSoftLimit() is not { } limit || CountOpen() is not { } open)
        {
            return null;
        }

        return new DescriptorBudget(limit, open, RuntimeMargin(Environment.ProcessorCount, listeners));
    }

    /// <summary>The soft <c>RLIMIT_NOFILE</c> (<see cref="long.MaxValue"/> when unlimited), or <see langword="null"/> when it cannot be read.</summary>
    public static long? ReadSoftLimit()
    {
        if (!IsSupported)
        {
            return null;
        }

        try
        {
            return ReadSoftLimitWithGetrlimit();
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return OperatingSystem.IsLinux() ? ReadSoftLimitFromProc() : null;
        }
    }

    /// <summary>The soft limit through <c>getrlimit(2)</c>; throws when the C library cannot be bound.</summary>
    internal static long? ReadSoftLimitWithGetrlimit()
    {
        if (OperatingSystem.IsLinux())
        {
            // glibc and musl: struct rlimit is two unsigned longs, so 32 bits wide on 32-bit systems.
            if (Native.GetRlimitLinux(LinuxRlimitNofile, out var limit) != 0)
            {
                return null;
            }

            return limit.Current == nuint.MaxValue || limit.Current > long.MaxValue ? long.MaxValue : (long)limit.Current;
        }

        // macOS and FreeBSD: rlim_t is 64 bits everywhere.
        if (Native.GetRlimitBsd(BsdRlimitNofile, out var bsd) != 0)
        {
            return null;
        }

        return bsd.Current > long.MaxValue ? long.MaxValue : (long)bsd.Current;
    }

    /// <summary>The soft limit from <c>/proc/self/limits</c> (Linux), or <see langword="null"/>.</summary>
    internal static long? ReadSoftLimitFromProc()
    {
        try
        {
            return ParseProcLimits(File.ReadAllText("/proc/self/limits"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Parses the "Max open files" row of a <c>/proc/PID/limits</c> text: its soft column, "unlimited" as <see cref="long.MaxValue"/>.</summary>
    internal static long? ParseProcLimits(string text)
    {
        const string Row = "Max open files";
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith(Row, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[Row.Length..].TrimStart();
            var end = rest.IndexOf(' ');
            var soft = end < 0 ? rest : rest[..end];
            if (soft.SequenceEqual("unlimited"))
            {
                return long.MaxValue;
            }

            return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
        }

        return null;
    }

    /// <summary>
    /// How many descriptors the process has open now (<c>/proc/self/fd</c> on Linux, <c>/dev/fd</c> elsewhere),
    /// not counting the one the listing itself opens; <see langword="null"/> when they cannot be listed.
    /// </summary>
    public static int? CountOpen()
    {
        if (!IsSupported)
        {
            return null;
        }

        try
        {
            var count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries(OperatingSystem.IsLinux() ? "/proc/self/fd" : "/dev/fd"))
            {
                count++;
            }

            // The directory handle the enumeration reads through is listed too.
            return Math.Max(0, count - 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The C library calls of the descriptor machinery (here and in <see cref="ReserveDescriptor"/>).</summary>
    internal static class Native
    {
        public const short PollIn = 0x1;

        [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int GetRlimitLinux(int resource, out LinuxRlimit limit);

        [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int GetRlimitBsd(int resource, out BsdRlimit limit);

        [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Poll(ref PollFd fd, nuint count, int timeoutMilliseconds);

        [DllImport("libc", EntryPoint = "accept", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Accept(int socket, nint address, nint addressLength);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Close(int descriptor);

        [StructLayout(LayoutKind.Sequential)]
        public struct LinuxRlimit
        {
            public nuint Current;
            public nuint Maximum;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct BsdRlimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        /// <summary><c>struct pollfd</c>: the same layout on every Unix.</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd
        {
            public int Descriptor;
            public short Events;
            public short ReturnedEvents;
        }
    }
}
