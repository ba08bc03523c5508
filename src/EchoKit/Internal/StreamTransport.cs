using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// The seam under the relay pump: a byte stream that can receive into a buffer, send from a buffer, end its sending
/// side and be aborted. Each operation completes at once (returns <see langword="false"/>; the caller then reads
/// <see cref="GetResult"/>) or later (returns <see langword="true"/>; the owner's <see cref="IStreamTransportOwner.OnTransportCompleted"/>
/// is called, once, on the thread that completed it). One operation at a time, except that a stop may end the sending side
/// (<see cref="ShutdownSendWhileReceiving"/>) while a receive waits. <see cref="SocketTransport"/> is the pooled
/// <see cref="SocketAsyncEventArgs"/> one (TCP, Unix sockets); <see cref="TlsTransport"/> adapts an
/// <see cref="System.Net.Security.SslStream"/> over it.
/// </summary>
internal abstract class StreamTransport
{
    /// <summary>
    /// Makes the transport ready for data (TLS: the handshake, after any <paramref name="prefix"/> bytes the PROXY phase
    /// already read). <see langword="false"/> when it completed at once; a raw socket always does.
    /// </summary>
    public virtual bool Start(ReadOnlyMemory<byte> prefix) => false;

    /// <summary>Receives up to <paramref name="count"/> bytes into <paramref name="buffer"/>; a count of 0 waits for data without taking any.</summary>
    public abstract bool Receive(byte[]? buffer, int offset, int count);

    /// <summary>
    /// One non-blocking receive: <see langword="false"/> when nothing was waiting (or the transport cannot tell
    /// without blocking), so the caller waits instead; otherwise <paramref name="error"/> and <paramref name="received"/> are the result.
    /// </summary>
    public virtual bool TryReceiveNow(byte[] buffer, out SocketError error, out int received)
    {
        error = SocketError.WouldBlock;
        received = 0;
        return false;
    }

    /// <summary>Sends from <paramref name="buffer"/>; the result may be fewer than <paramref name="count"/> bytes (TLS: one record), and the caller sends the rest.</summary>
    public abstract bool Send(byte[] buffer, int offset, int count);

    /// <summary>
    /// Ends the sending side behind the data sent (FIN; TLS: close_notify, then FIN). With <paramref name="closingNext"/>
    /// the transport is closed right after, and a raw socket leaves the FIN to its close (one system call less).
    /// </summary>
    public abstract bool ShutdownSend(bool closingNext);

    /// <summary>A stop's FIN (TLS: close_notify) while a receive waits: from another thread, under the set's lock, so it never blocks.</summary>
    public abstract void ShutdownSendWhileReceiving();

    /// <summary>Wakes a pending receive that holds a buffer, as end of stream (a stop while the pump receives).</summary>
    public abstract void WakeReceive();

    /// <summary>The result of the operation that just completed: its error (<see cref="SocketError.Success"/>) and bytes transferred.</summary>
    public abstract SocketError GetResult(out int transferred);

    /// <summary>Makes the next close abortive (RST): linger 0 on the socket underneath.</summary>
    public abstract void SetAbortiveClose();

    /// <summary>Closes at once, failing any pending operation; safe to call more than once and from any thread.</summary>
    public abstract void Abort();

    /// <summary>The pump's last call: closes the transport and anything layered on it; safe to call more than once.</summary>
    public virtual void Close() => Abort();
}

/// <summary>Who gets a transport's completions: the pump that issued the operation.</summary>
internal interface IStreamTransportOwner
{
    /// <summary>An operation that returned <see langword="true"/> (pending) completed; may run on any thread.</summary>
    void OnTransportCompleted();
}
