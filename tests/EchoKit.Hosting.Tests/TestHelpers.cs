using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary>Shared plumbing: hosts configured from in-memory settings, loopback clients, and bounded waits.</summary>
internal static class TestHelpers
{
    /// <summary>The upper bound for any single wait in a test; tests never hang past it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A host with no defaults (no appsettings, no console logging) whose configuration is <paramref name="settings"/>.</summary>
    public static HostApplicationBuilder Builder(IDictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        return builder;
    }

    /// <summary>Settings for the "EchoServer" section listening on 127.0.0.1:0.</summary>
    public static Dictionary<string, string?> LoopbackSettings(string section = "EchoServer") => new()
    {
        [$"{section}:EndPoints:0"] = "127.0.0.1:0",
    };

    /// <summary>Builds and starts a host; disposes it if the start fails.</summary>
    public static async Task<IHost> StartAsync(HostApplicationBuilder builder)
    {
        var host = builder.Build();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            await host.StartAsync(cts.Token);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>Builds a host and expects its start to fail; returns the failure (an aggregate of several is flattened to the first of <typeparamref name="T"/>).</summary>
    public static async Task<T> StartFailsAsync<T>(HostApplicationBuilder builder)
        where T : Exception
    {
        using var host = builder.Build();
        using var cts = new CancellationTokenSource(Timeout);
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(cts.Token));
        var found = ex as T ?? (ex as AggregateException)?.Flatten().InnerExceptions.OfType<T>().FirstOrDefault();
        Assert.True(found is not null, $"Expected {typeof(T).Name} but got {ex}");
        return found;
    }

    /// <summary>The options a host would run with, built and validated as the host does.</summary>
    public static EchoServerOptions Options(this IServiceProvider services, string name = "") =>
        services.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(name);

    public static IPEndPoint EndPoint(this EchoServer server, int index = 0) => (IPEndPoint)server.EndPoints[index];

    public static async Task<Socket> ConnectAsync(EndPoint endPoint)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(endPoint, cts.Token);
        return socket;
    }

    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cts.Token);
            data = data[sent..];
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws (end of stream or timeout).</summary>
    public static async Task ReceiveExactlyAsync(this Socket socket, Memory<byte> buffer)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                throw new EndOfStreamException($"The server closed with {buffer.Length} bytes still expected.");
            }

            buffer = buffer[read..];
        }
    }

    /// <summary>Reads until the server closes; returns everything read.</summary>
    public static async Task<byte[]> ReceiveToEndAsync(this Socket socket)
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }

    /// <summary>Connects, sends a random payload and checks it comes back unchanged.</summary>
    public static async Task AssertEchoesAsync(EndPoint endPoint, int length = 64 * 1024)
    {
        using var client = await ConnectAsync(endPoint);
        var payload = RandomBytes(length, seed: length);
        await client.SendAllAsync(payload);
        var echoed = new byte[payload.Length];
        await client.ReceiveExactlyAsync(echoed);
        Assert.Equal(payload, echoed);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <see cref="Timeout"/> passes.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
