using System.Net;
using System.Net.Sockets;

namespace EchoKit.Cli.Tests;

/// <summary>
/// A misbehaving UDP echo on loopback, for the cases a real server does not produce on demand. It answers from its
/// own thread, not the thread pool, so tests that starve or share the pool (and other tests running in parallel) do
/// not hold its answers back.
/// </summary>
internal sealed class FakeUdpEcho : IDisposable
{
    private const int ReverseBatch = 4;

    /// <summary>How long <see cref="Behavior.ReverseEveryFour"/> waits for the rest of a batch before it answers a partial one.</summary>
    private static readonly TimeSpan BatchWait = TimeSpan.FromMilliseconds(50);

    /// <summary>How often the loop looks at <see cref="_stop"/> while nothing arrives.</summary>
    private static readonly TimeSpan StopPoll = TimeSpan.FromMilliseconds(100);

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Thread _thread;
    private volatile bool _stop;
    private int _received;
    private int _reversedBatches;

    public FakeUdpEcho(Behavior behavior)
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _thread = new Thread(() => Loop(behavior)) { IsBackground = true, Name = $"FakeUdpEcho {behavior}" };
        _thread.Start();
    }

    public enum Behavior
    {
        /// <summary>Echo each datagram with its last byte changed.</summary>
        FlipLastByte,

        /// <summary>Read every datagram and never answer (no ICMP either: the port is open).</summary>
        NeverAnswer,

        /// <summary>Echo each datagram twice.</summary>
        Duplicate,

        /// <summary>
        /// Hold datagrams until 4 are in, then echo them last first; a partial batch is echoed last first too once
        /// no datagram came for 50 ms (as at the end of a run), so every datagram is answered.
        /// </summary>
        ReverseEveryFour,
    }

    public IPEndPoint IPEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public string EndPoint => IPEndPoint.ToString();

    public int Received => Volatile.Read(ref _received);

    /// <summary>Batches of <see cref="Behavior.ReverseEveryFour"/> echoed in reverse that held 2 datagrams or more.</summary>
    public int ReversedBatches => Volatile.Read(ref _reversedBatches);

    public void Dispose()
    {
        _stop = true;
        _ = _thread.Join(CliRun.Timeout);   // the loop looks at _stop at least every StopPoll
        _socket.Dispose();
    }

    private void Loop(Behavior behavior)
    {
        var held = new List<(byte[] Datagram, EndPoint From)>();
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (!_stop)
            {
                if (!_socket.Poll(held.Count > 0 ? BatchWait : StopPoll, SelectMode.SelectRead))
                {
                    Flush(held);   // nothing more came: answer the partial batch
                    continue;
                }

                var from = any;
                var length = _socket.ReceiveFrom(buffer, ref from);
                Interlocked.Increment(ref _received);
                var datagram = buffer.AsSpan(0, length);
                switch (behavior)
                {
                    case Behavior.NeverAnswer:
                        break;
                    case Behavior.FlipLastByte:
                        datagram[^1] ^= 0x5A;
                        _socket.SendTo(datagram, from);
                        break;
                    case Behavior.Duplicate:
                        _socket.SendTo(datagram, from);
                        _socket.SendTo(datagram, from);
                        break;
                    case Behavior.ReverseEveryFour:
                        held.Add((datagram.ToArray(), from));
                        if (held.Count == ReverseBatch)
                        {
                            Flush(held);
                        }

                        break;
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // Disposed by the test.
        }
    }

    private void Flush(List<(byte[] Datagram, EndPoint From)> held)
    {
        if (held.Count > 1)
        {
            Interlocked.Increment(ref _reversedBatches);
        }

        for (var i = held.Count - 1; i >= 0; i--)
        {
            _socket.SendTo(held[i].Datagram, held[i].From);
        }

        held.Clear();
    }
}
