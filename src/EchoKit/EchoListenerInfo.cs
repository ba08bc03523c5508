using System.Net;

namespace EchoKit;

/// <summary>One endpoint an <see cref="EchoServer"/> is listening on, and its transport; see <see cref="EchoServer.Listeners"/>.</summary>
public sealed class EchoListenerInfo
{
    /// <summary>Creates the description of a listener.</summary>
    /// <param name="endPoint">The bound endpoint.</param>
    /// <param name="transport">How clients reach it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is <see langword="null"/>.</exception>
    public EchoListenerInfo(EndPoint endPoint, EchoTransport transport)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        EndPoint = endPoint;
        Transport = transport;
    }

    /// <summary>The endpoint actually bound, with the real port when port 0 was asked for.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>How clients reach this endpoint.</summary>
    public EchoTransport Transport { get; }

    /// <summary>The transport and endpoint, such as <c>udp 127.0.0.1:7007</c>.</summary>
    /// <returns>A short description for logs and diagnostics.</returns>
    public override string ToString() => $"{Transport.ToString().ToLowerInvariant()} {EndPoint}";
}
