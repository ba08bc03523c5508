using System.Net;
using System.Net.Sockets;

namespace EchoKit.Benchmarks.Servers;

/// <summary>The textbook server: TcpListener, a NetworkStream per connection, a 1 KiB buffer, ReadAsync/WriteAsync.</summary>
public sealed class NaiveBenchServer : TcpListenerBenchServer
{
    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            client.NoDelay = true;
            var buffer = new byte[1024];
            try
            {
                var stream = client.GetStream();
                int read;
                while ((read = await stream.ReadAsync(buffer, Stopping)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, read), Stopping);
                }
            }
            catch (Exception ex) when (IsDisconnect(ex))
            {
                // Client went away or the server is stopping.
            }
        }
    }
}
