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
    public static readonly TimeSpan Timeout = SocketTestHelpers.Timeout;

    public static Task<Socket> ConnectAsync(EndPoint endPoint) => SocketTestHelpers.ConnectAsync(endPoint);

    public static Task WaitUntilAsync(Func<bool> condition, string what) => SocketTestHelpers.WaitUntilAsync(condition, what);

    public static byte[] RandomBytes(int length, int seed) => SocketTestHelpers.RandomBytes(length, seed);

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

    /// <summary>The options a host would run a fault proxy with, built and validated as the host does.</summary>
    public static FaultProxyOptions FaultProxyOptions(this IServiceProvider services, string name = "") =>
        services.GetRequiredService<IOptionsMonitor<FaultProxyOptions>>().Get(name);

    public static IPEndPoint EndPoint(this EchoServer server, int index = 0) => (IPEndPoint)server.EndPoints[index];

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

}
