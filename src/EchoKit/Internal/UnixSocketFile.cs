using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace EchoKit.Internal;

/// <summary>
/// What to do when a Unix socket path is already taken. A process that dies (a crash, SIGKILL) leaves its socket
/// file behind, and binding there fails until it is removed; removing it blindly could cut off a live server or
/// delete a file that is not a socket. So the path is removed only when (1) it is a socket, checked with
/// <c>statx</c> on Linux (elsewhere the type cannot be checked and nothing is removed), and (2) nobody listens on
/// it: a probe connect is refused. A live server there, or a file of another kind, fails the start with a message
/// naming the path. (A server that starts listening between the probe and the removal loses its path; the window
/// is a few system calls.)
/// </summary>
internal static partial class UnixSocketFile
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int StatxSize = 256;
    private const int FileTypeMask = 0xF000;
    private const int SocketType = 0xC000;

    /// <summary>Removes <paramref name="path"/> if it is a stale socket; otherwise says why not, for the start's error message.</summary>
    public static bool TryRemoveStale(string path, out string problem)
    {
        switch (IsSocket(path))
        {
            case false:
                problem = "the path exists and is not a socket; remove it or choose another path";
                return false;
            case null:
                problem = "the path exists and its type cannot be checked on this system; if no server uses it, remove it";
                return false;
        }

        if (!IsRefused(path, out problem))
        {
            return false;
        }

        // A socket nobody listens on: left behind by a process that did not close it.
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"a stale socket file is in the way and could not be removed ({ex.Message})";
            return false;
        }

        problem = string.Empty;
        return true;
    }

    /// <summary>Whether a connect to the socket is refused, that is nobody listens on it; if not, says why.</summary>
    private static bool IsRefused(string path, out string problem)
    {
        using var probe = new Socket(AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, ProtocolType.Unspecified);
        probe.Blocking = false;
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            problem = "another process is listening on this socket file";
            return false;
        }
        catch (SocketException ex)
        {
            problem = ex.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => string.Empty,

                // Its accept queue is full: it is alive.
                SocketError.WouldBlock or SocketError.InProgress or SocketError.TryAgain => "another process is listening on this socket file (its backlog is full)",
                _ => $"the socket file exists and could not be probed ({ex.Message})",
            };
            return ex.SocketErrorCode == SocketError.ConnectionRefused;
        }
    }

    /// <summary>Whether <paramref name="path"/> is a socket; <see langword="null"/> when that cannot be told here.</summary>
    private static bool? IsSocket(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // struct statx has the same layout on every Linux architecture (stx_mode is a u16 at offset 28).
        var buffer = new byte[StatxSize];
        try
        {
            if (Statx(AtFdCwd, Encoding.UTF8.GetBytes(path + "\0"), AtSymlinkNoFollow, StatxType, buffer) != 0)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without statx (glibc before 2.28, some musl builds).
            return null;
        }

        var mode = BitConverter.ToUInt16(buffer, StatxModeOffset);
        return (mode & FileTypeMask) == SocketType;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(int directory, byte[] path, int flags, uint mask, [Out] byte[] buffer);
}
