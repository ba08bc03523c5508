using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EchoKit.LoadGenerator.Internal;

/// <summary>
/// What a load connection does once, before its echo load: send a PROXY header naming its own addresses, read the
/// server's greeting line. Allocates per connection only; the echo path is untouched.
/// </summary>
internal static class ConnectionPrologue
{
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>Runs the prologue; returns the greeting (without its line end) or null when none is read. Throws <see cref="IOException"/> on a protocol problem.</summary>
    public static async ValueTask<string?> RunAsync(Socket socket, EchoLoadOptions options)
    {
        using var timeout = new CancellationTokenSource(options.ConnectTimeout);
        if (options.ProxyHeader != ProxyHeaderVersion.None)
        {
            var header = Header(options.ProxyHeader, (IPEndPoint)socket.LocalEndPoint!, (IPEndPoint)socket.RemoteEndPoint!);
            await LoopbackSocket.SendAllAsync(socket, header, timeout.Token).ConfigureAwait(false);
        }

        return options.ReadGreeting ? await ReadLineAsync(socket, timeout.Token).ConfigureAwait(false) : null;
    }

    /// <summary>A v1 or v2 header with <paramref name="source"/> as the client and <paramref name="destination"/> as the server.</summary>
    public static byte[] Header(ProxyHeaderVersion version, IPEndPoint source, IPEndPoint destination)
    {
        var v4 = source.AddressFamily == AddressFamily.InterNetwork;
        if (version == ProxyHeaderVersion.V1)
        {
            return Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"PROXY {(v4 ? "TCP4" : "TCP6")} {source.Address} {destination.Address} {source.Port} {destination.Port}\r\n"));
        }

        var addressLength = v4 ? 4 : 16;
        var header = new byte[16 + (2 * addressLength) + 4];
        V2Signature.CopyTo(header, 0);
        header[12] = 0x21;                      // version 2, PROXY
        header[13] = v4 ? (byte)0x11 : (byte)0x21;  // INET or INET6, STREAM
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)(header.Length - 16));
        source.Address.TryWriteBytes(header.AsSpan(16, addressLength), out _);
        destination.Address.TryWriteBytes(header.AsSpan(16 + addressLength, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16 + (2 * addressLength)), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(18 + (2 * addressLength)), (ushort)destination.Port);
        return header;
    }

    /// <summary>
    /// Reads up to and including the first <c>\n</c>. Nothing has been sent yet (but the header), so every byte before
    /// it is the greeting; a byte after it in the same read would be taken for echo data, so it is an error.
    /// </summary>
    private static async ValueTask<string> ReadLineAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[EchoLoadOptions.MaxGreetingLength];
        var got = 0;
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new IOException($"the server closed the connection before a greeting line ({got} byte(s) received)");
                }

                var end = buffer.AsSpan(got, n).IndexOf((byte)'\n');
                got += n;
                if (end >= 0)
                {
                    var lineEnd = got - n + end + 1;
                    if (lineEnd != got)
                    {
                        throw new IOException($"the server sent {got - lineEnd} byte(s) after its greeting line before any echo");
                    }

                    var line = buffer.AsSpan(0, lineEnd - 1);
                    return Encoding.UTF8.GetString(line.EndsWith("\r"u8) ? line[..^1] : line);
                }

                if (got == buffer.Length)
                {
                    throw new IOException($"no greeting line in the first {buffer.Length} bytes");
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"no greeting line within the connect timeout ({got} byte(s) received)");
        }
    }
}
