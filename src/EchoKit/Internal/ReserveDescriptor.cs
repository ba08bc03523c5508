using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace EchoKit.Internal;

/// <summary>
/// One spare descriptor (<c>/dev/null</c>) held so the server can still answer when the process runs out (the
/// nginx/libev trick). When an accept fails with <c>EMFILE</c>/<c>ENFILE</c> the client would otherwise wait in the
/// backlog, unanswered, until descriptors free up; <see cref="Shed"/> gives up the spare, accepts what waits and
/// closes it at once (the client sees a close, not a hang), then takes the spare back. One per server, shared by
/// its listeners: sheds run one at a time under a lock.
/// </summary>
internal sealed class ReserveDescriptor : IDisposable
{
    // ECONNABORTED (Linux 103, macOS and FreeBSD 53) and EINTR (4 everywhere) leave the next connection to accept.
    private static readonly int ConnectionAborted = OperatingSystem.IsLinux() ? 103 : 53;
    private const int Interrupted = 4;

    private readonly Lock _lock = new();
    private readonly Func<SafeFileHandle> _open;
    private SafeFileHandle? _spare;
    private bool _disposed;

    /// <summary>Opens the spare; <paramref name="open"/> replaces <c>/dev/null</c> in tests.</summary>
    public ReserveDescriptor(Func<SafeFileHandle>? open = null)
    {
        _open = open ?? (static () => File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read));
        TryRestore();
    }

    /// <summary>Whether the spare is held now (it is not while a shed runs, or after it could not be re-opened).</summary>
    public bool IsHeld
    {
        get
        {
            lock (_lock)
            {
                return _spare is not null;
            }
        }
    }

    /// <summary>Whether an accept error means the process (or system) is out of descriptors.</summary>
    public static bool IsExhaustion(SocketError error) => error == SocketError.TooManyOpenSockets;

    /// <summary>
    /// Accepts and closes at once up to <paramref name="maxConnections"/> connections waiting on
    /// <paramref name="listener"/>, using the spare descriptor for the accept; returns how many were closed (count
    /// them as rejected). Never blocks: it stops when nothing waits, when the descriptor freed was taken by another
    /// thread meanwhile, or when the listener is closed. The spare is re-opened before returning; when that fails
    /// (<paramref name="restored"/> is <see langword="false"/>), the next shed tries again.
    /// </summary>
    public int Shed(Socket listener, int maxConnections, out bool restored)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_lock)
        {
            if (_disposed)
            {
                restored = false;
                return 0;
            }

            // Without a spare (a failed re-open) the accept still runs: another close may have freed a descriptor.
            _spare?.Dispose();
            _spare = null;
            var closed = 0;
            var handle = listener.SafeHandle;
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                var descriptor = (int)handle.DangerousGetHandle();
                // Bounded in attempts too: a backlog of connections that went away counts against it.
                for (var attempt = 0; closed < maxConnections && attempt < 2 * maxConnections && IsReadable(descriptor); attempt++)
                {
                    if (AcceptAndClose(descriptor) is not { } result)
                    {
                        break;
                    }

                    if (result)
                    {
                        closed++;
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // The listener was closed meanwhile: nothing waits any more.
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }

                TryRestoreLocked();
            }

            restored = _spare is not null;
            return closed;
        }
    }

    /// <summary>Re-opens the spare if it is not held; returns whether it is held now.</summary>
    public bool TryRestore()
    {
        lock (_lock)
        {
            return !_disposed && TryRestoreLocked();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _spare?.Dispose();
            _spare = null;
        }
    }

    private bool TryRestoreLocked()
    {
        if (_spare is null && !_disposed)
        {
            try
            {
                _spare = _open();
            }
            catch (IOException)
            {
                // Still out of descriptors; the next shed or restore tries again.
            }
        }

        return _spare is not null;
    }

    /// <summary>Whether a connection waits (the listener's descriptor is non-blocking under the async engine, but poll makes sure the accept cannot block).</summary>
    private static bool IsReadable(int descriptor)
    {
        var poll = new DescriptorLimit.Native.PollFd { Descriptor = descriptor, Events = DescriptorLimit.Native.PollIn };
        return DescriptorLimit.Native.Poll(ref poll, 1, 0) == 1 && (poll.ReturnedEvents & DescriptorLimit.Native.PollIn) != 0;
    }

    /// <summary>One accept: <see langword="true"/> when a connection was accepted and closed, <see langword="false"/> when one went away in the backlog (try the next), <see langword="null"/> to stop.</summary>
    private static bool? AcceptAndClose(int listener)
    {
        var accepted = DescriptorLimit.Native.Accept(listener, 0, 0);
        if (accepted >= 0)
        {
            // Nothing was read: the client sees a FIN, or a RST if it had sent data.
            // A failed close (EINTR) has still released the descriptor on Linux; nothing to retry.
            _ = DescriptorLimit.Native.Close(accepted);
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        // EAGAIN: nothing waits; EMFILE/ENFILE: another thread took the descriptor freed.
        return errno == ConnectionAborted || errno == Interrupted ? false : null;
    }
}
