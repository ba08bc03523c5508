namespace EchoKit;

/// <summary>How clients reach one of an <see cref="EchoServer"/>'s listeners.</summary>
public enum EchoTransport
{
    /// <summary>TCP on an <see cref="System.Net.IPEndPoint"/> from <see cref="EchoServerOptions.EndPoints"/>: a byte stream echoed until the client closes.</summary>
    Tcp = 0,

    /// <summary>UDP on an endpoint from <see cref="EchoServerOptions.UdpEndPoints"/>: each datagram is sent back to its source (RFC 862).</summary>
    Udp = 1,

    /// <summary>TLS over TCP on an endpoint from <see cref="EchoServerOptions.TlsEndPoints"/>: the decrypted bytes are echoed, encrypted.</summary>
    Tls = 2,

    /// <summary>A Unix domain stream socket (<see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>) from <see cref="EchoServerOptions.EndPoints"/>.</summary>
    Unix = 3,
}
