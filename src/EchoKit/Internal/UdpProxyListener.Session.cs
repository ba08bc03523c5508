using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

internal sealed partial class UdpProxyListener
{
    /// <summary>
    /// One client source of a UDP proxy: its address, and a socket connected to the upstream that carries its datagrams
    /// there and receives the answers, which go back to the client from the listener's socket.
    /// </summary>
    public sealed class Session
    {
        private readonly UdpProxyListener _owner;
        private readonly Socket _upstream;
        private long _lastActivity = Environment.TickCount64;

        private Session(UdpProxyListener owner, SocketAddress client, Socket upstream)
        {
            _owner = owner;
            _upstream = upstream;
            ClientAddress = client;
            (ClientKey, ClientPort) = KeyOf(client);
        }

        /// <summary>The client's address (a copy; the dictionary's key).</summary>
        public SocketAddress ClientAddress { get; }

        public UdpSourceKey ClientKey { get; }

        public int ClientPort { get; }

        public long LastActivity => Volatile.Read(ref _lastActivity);

        /// <summary>A session for the client at <paramref name="source"/>, its upstream socket connected and receiving; <see langword="null"/> when the socket cannot be made.</summary>
        public static Session? Open(UdpProxyListener owner, SocketAddress source)
        {
            var upstream = owner._upstream;
            var socket = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                socket.Connect(upstream);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                EchoServerLog.UpstreamUnavailable(owner._context.Logger, 0, upstream, ex.SocketErrorCode);
                return null;
            }

            var client = new SocketAddress(source.Family, source.Size);
            source.Buffer.Span[..source.Size].CopyTo(client.Buffer.Span);
            var session = new Session(owner, client, socket);
            _ = Task.Run(session.ReceiveFromUpstreamAsync);
            return session;
        }

        public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);

        /// <summary>
        /// Sends one datagram on, <paramref name="copies"/> times: to the upstream, or back to the client (counted). A
        /// failed send is a lost datagram, as on any UDP path.
        /// </summary>
        public void Send(FaultDirection stream, ReadOnlySpan<byte> datagram, int copies)
        {
            var sent = 0;
            for (var i = 0; i < copies; i++)
            {
                try
                {
                    if (stream == FaultDirection.Upstream)
                    {
                        _upstream.Send(datagram);
                    }
                    else
                    {
                        _owner._socket.SendTo(datagram, SocketFlags.None, ClientAddress);
                    }

                    sent++;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // The upstream refused (ICMP port unreachable), a buffer was full, or the session is closing.
                }
            }

            if (stream == FaultDirection.Downstream)
            {
                _owner.CountToClient(copies, sent, datagram.Length);
            }
        }

        public void Close() => _upstream.Dispose();

        /// <summary>The answers: each datagram from the upstream into a holder, through the downstream rules, to the client.</summary>
        private async Task ReceiveFromUpstreamAsync()
        {
            var direction = _owner.ToClient;
            while (true)
            {
                var datagram = await direction.RentAsync(_owner._closed.Token).ConfigureAwait(false);
                if (datagram is null)
                {
                    return;
                }

                int received;
                try
                {
                    received = await _upstream.ReceiveAsync(datagram.Buffer, SocketFlags.None).ConfigureAwait(false);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // The upstream's port answered ICMP unreachable for an earlier datagram: nothing to pass on.
                    direction.Return(datagram);
                    continue;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    direction.Return(datagram);
                    return;
                }

                Touch();
                direction.Forward(datagram, this, received);
            }
        }
    }
}
