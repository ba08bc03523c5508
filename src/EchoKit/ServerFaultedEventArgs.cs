using System.Net;

namespace EchoKit;

/// <summary>Data for <see cref="EchoServer.ServerFaulted"/>.</summary>
public sealed class ServerFaultedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="endPoint">The listening endpoint whose accept loop failed.</param>
    /// <param name="exception">What went wrong.</param>
    public ServerFaultedEventArgs(EndPoint endPoint, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(exception);
        EndPoint = endPoint;
        Exception = exception;
    }

    /// <summary>The listening endpoint whose accept loop failed. The server keeps accepting after a short pause.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>What went wrong, typically a <see cref="System.Net.Sockets.SocketException"/> such as too many open files.</summary>
    public Exception Exception { get; }
}
