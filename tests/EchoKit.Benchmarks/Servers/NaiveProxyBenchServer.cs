using System.Net;
using System.Net.Sockets;

namespace EchoKit.Benchmarks.Servers;

/// <summary>
/// The textbook proxy: TcpListener, per connection a TcpClient to <paramref name="upstream"/> and two
/// <see cref="Stream.CopyToAsync(Stream, CancellationToken)"/> loops, one per direction. TCP_NODELAY is set on both
/// sockets like every other server here; when one direction ends its destination's send side is shut down, so the
/// end of the stream reaches the other side (without it the echo server would never see EOF and the pair would stay open).
/// </summary>
public sealed class NaiveProxyBenchServer(IPEndPoint upstream) : TcpListenerBenchServer
{
    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient(AddressFamily.InterNetwork))
        using (var pair = CancellationTokenSource.CreateLinkedTokenSource(Stopping))
        {
            try
            {
                client.NoDelay = true;
                server.NoDelay = true;
                await server.ConnectAsync(upstream, pair.Token);
                var clientStream = client.GetStream();
                var serverStream = server.GetStream();
                await Task.WhenAll(
                    CopyThenShutdownAsync(clientStream, serverStream, server.Client, pair),
                    CopyThenShutdownAsync(serverStream, clientStream, client.Client, pair));
            }
            catch (Exception ex) when (IsDisconnect(ex))
            {
                // The upstream refused or the proxy is stopping: disposing closes both.
            }
        }
    }

    private static async Task CopyThenShutdownAsync(Stream source, Stream destination, Socket destinationSocket, CancellationTokenSource pair)
    {
        try
        {
            await source.CopyToAsync(destination, pair.Token);
            destinationSocket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            // A reset (or the stop) on one side: end the other direction too, or its read would wait forever.
            await pair.CancelAsync();
        }
    }
}
