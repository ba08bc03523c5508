using System.Net;
using System.Net.Sockets;

namespace EchoKit.Cli.Tests;

/// <summary>A misbehaving UDP echo on loopback, for the cases a real server does not produce on demand.</summary>
internal sealed class FakeUdpEcho : IDisposable
{
    private const int ReverseBatch = 4;

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _received;

    public FakeUdpEcho(Behavior behavior)
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _loop = Task.Run(() => LoopAsync(behavior));
    }

    public enum Behavior
    {
        /// <summary>Echo each datagram with its last byte changed.</summary>
        FlipLastByte,

        /// <summary>Read every datagram and never answer (no ICMP either: the port is open).</summary>
        NeverAnswer,

        /// <summary>Echo each datagram twice.</summary>
        Duplicate,

        /// <summary>Hold datagrams until 4 are in, then echo them last first.</summary>
        ReverseEveryFour,
    }

    public IPEndPoint IPEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public string EndPoint => IPEndPoint.ToString();

    public int Received => Volatile.Read(ref _received);

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _ = _loop.Wait(CliRun.Timeout);
        _stop.Dispose();
    }

    private async Task LoopAsync(Behavior behavior)
    {
        var held = new List<(byte[] Datagram, EndPoint From)>();
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
                Interlocked.Increment(ref _received);
                var datagram = buffer.AsMemory(0, result.ReceivedBytes);
                switch (behavior)
                {
                    case Behavior.NeverAnswer:
                        break;
                    case Behavior.FlipLastByte:
                        datagram.Span[^1] ^= 0x5A;
                        await _socket.SendToAsync(datagram, SocketFlags.None, result.RemoteEndPoint, _stop.Token);
                        break;
                    case Behavior.Duplicate:
                        await _socket.SendToAsync(datagram, SocketFlags.None, result.RemoteEndPoint, _stop.Token);
                        await _socket.SendToAsync(datagram, SocketFlags.None, result.RemoteEndPoint, _stop.Token);
                        break;
                    case Behavior.ReverseEveryFour:
                        held.Add((datagram.ToArray(), result.RemoteEndPoint));
                        if (held.Count == ReverseBatch)
                        {
                            for (var i = held.Count - 1; i >= 0; i--)
                            {
                                await _socket.SendToAsync(held[i].Datagram, SocketFlags.None, held[i].From, _stop.Token);
                            }

                            held.Clear();
                        }

                        break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Disposed by the test.
        }
    }
}
