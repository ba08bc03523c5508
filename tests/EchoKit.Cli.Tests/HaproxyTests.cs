using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EchoKit.Testing;

namespace EchoKit.Cli.Tests;

/// <summary>
/// Two <c>echokit serve --proxy-protocol</c> instances behind a real HAProxy on loopback: one fed PROXY v2
/// (<c>send-proxy-v2</c>), one v1 (<c>send-proxy</c>). Clients bind their own 127.0.0.x source addresses, so the
/// instances' logs can show that they see each client, not the balancer. Run one at a time: each runs instances and
/// a balancer.
/// </summary>
[CollectionDefinition(nameof(HaproxyTests), DisableParallelization = true)]
[Collection(nameof(HaproxyTests))]
public sealed partial class HaproxyTests
{
    [SkippableFact]
    public async Task Echoes_are_byte_exact_through_both_header_versions_and_each_instance_sees_the_clients_own_address()
    {
        RequireHaproxy();
        using var v2 = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol", "--log-level", "Debug");
        using var v1 = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol", "--log-level", "Debug");
        var (v2Port, v1Port) = (Port(await v2.WaitForListenerAsync()), Port(await v1.WaitForListenerAsync()));
        var frontend = Haproxy.FreePort();
        using var haproxy = await Haproxy.StartAsync(Haproxy.Configuration(frontend, $"""
            backend be
              balance roundrobin
              server v2 127.0.0.1:{v2Port} send-proxy-v2
              server v1 127.0.0.1:{v1Port} send-proxy
            """), frontend);

        for (var i = 0; i < 20; i++)
        {
            using var client = await ConnectFromAsync(IPAddress.Parse($"127.0.0.{20 + i}"), frontend);
            var payload = SocketTestHelpers.RandomBytes(4096 + i * 997, seed: i);
            var sending = client.SendAllAsync(payload);
            var echoed = new byte[payload.Length];
            await client.ReceiveExactlyAsync(echoed);
            await sending;
            Assert.Equal(payload, echoed);
        }

        // Round robin: ten clients each; each instance logged its clients' own addresses (and never the balancer's 127.0.0.1 as a client).
        await SocketTestHelpers.WaitUntilAsync(() => AcceptedSources(v1).Count + AcceptedSources(v2).Count >= 20, "20 accepted lines");
        var seen = AcceptedSources(v1).Concat(AcceptedSources(v2)).Where(a => a != "127.0.0.1").Order().ToList();
        Assert.Equal(Enumerable.Range(20, 20).Select(i => $"127.0.0.{i}").Order(), seen);
        Assert.InRange(AcceptedSources(v1).Count(a => a != "127.0.0.1"), 8, 12);
    }

    [SkippableFact]
    public async Task The_per_address_limit_applies_to_each_real_client_not_to_the_balancer()
    {
        RequireHaproxy();
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol", "--max-connections-per-address", "1");
        var port = Port(await serve.WaitForListenerAsync());
        var frontend = Haproxy.FreePort();
        using var haproxy = await Haproxy.StartAsync(Haproxy.Configuration(frontend, $"""
            backend be
              server s1 127.0.0.1:{port} send-proxy-v2
            """), frontend);

        using var first = await ConnectFromAsync(IPAddress.Parse("127.0.0.50"), frontend);
        Assert.Equal([1, 2], await first.EchoAsync([1, 2]));

        // The same client again while its first connection is open: refused by the instance; HAProxy passes the close on.
        using (var second = await ConnectFromAsync(IPAddress.Parse("127.0.0.50"), frontend))
        {
            await second.SendAllAsync(new byte[] { 3 });
            Assert.Empty(await ReadToEndOrResetAsync(second));
        }

        // Another client through the same balancer connection source has its own slot.
        using var other = await ConnectFromAsync(IPAddress.Parse("127.0.0.51"), frontend);
        Assert.Equal([4], await other.EchoAsync([4]));
        Assert.Equal([5], await first.EchoAsync([5]));
    }

    [SkippableFact]
    public async Task A_direct_connection_without_a_header_is_rejected_with_its_reason()
    {
        RequireHaproxy();
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol");
        var endPoint = IPEndPoint.Parse(await serve.WaitForListenerAsync());

        using (var client = await SocketTestHelpers.ConnectAsync(endPoint))
        {
            await client.SendAllAsync("hello\n"u8.ToArray());
            Assert.Empty(await ReadToEndOrResetAsync(client));
        }

        await SocketTestHelpers.WaitUntilAsync(() => serve.Error.Text.Contains("ProxyHeaderInvalid", StringComparison.Ordinal) || serve.Output.Text.Contains("ProxyHeaderInvalid", StringComparison.Ordinal),
            "the rejection warning");
        Assert.Contains("did not start with a PROXY header", serve.Error.Text + serve.Output.Text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Bench_through_the_balancer_sees_its_spread_from_the_instances_greetings()
    {
        RequireHaproxy();
        using var a = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol", "--greeting", @"hello from {instance}\n", "--instance-name", "a");
        using var b = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--proxy-protocol", "--greeting", @"hello from {instance}\n", "--instance-name", "b");
        var (aPort, bPort) = (Port(await a.WaitForListenerAsync()), Port(await b.WaitForListenerAsync()));
        var frontend = Haproxy.FreePort();
        using var haproxy = await Haproxy.StartAsync(Haproxy.Configuration(frontend, $"""
            backend be
              balance roundrobin
              server a 127.0.0.1:{aPort} send-proxy-v2
              server b 127.0.0.1:{bPort} send-proxy
            """), frontend);

        var (exitCode, output, error) = await CliRun.RunAsync("bench", $"127.0.0.1:{frontend}", "--greeting", "-c", "20", "-p", "2", "-d", "500ms", "-w", "0", "--json");

        Assert.True(exitCode == 0, error + output);
        using var report = System.Text.Json.JsonDocument.Parse(output);
        var spread = report.RootElement.GetProperty("greetings").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(20, spread.Values.Sum());
        Assert.Equal(["hello from a", "hello from b"], spread.Keys.Order());
        Assert.All(spread.Values, count => Assert.InRange(count, 8, 12));
    }

    internal static void RequireHaproxy()
    {
        if (!Haproxy.IsInstalled && Environment.GetEnvironmentVariable("CI") == "true")
        {
            Assert.Fail("CI must have haproxy installed (.ci/run installs Debian's haproxy package).");
        }

        Skip.IfNot(Haproxy.IsInstalled, "haproxy is not installed (apt-get install haproxy)");
    }

    private static int Port(string endPoint) => IPEndPoint.Parse(endPoint).Port;

    internal static async Task<Socket> ConnectFromAsync(IPAddress source, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(CliRun.Timeout);
        return socket;
    }

    private static async Task<byte[]> ReadToEndOrResetAsync(Socket socket)
    {
        try
        {
            return await socket.ReceiveToEndAsync().WaitAsync(CliRun.Timeout);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return [];
        }
    }

    /// <summary>The client addresses an instance logged as accepted (<c>--log-level Debug</c>: "accepted from ADDRESS:PORT").</summary>
    private static List<string> AcceptedSources(CliRun run) =>
        [.. AcceptedFrom().Matches(run.Error.Text + run.Output.Text).Select(m => m.Groups[1].Value)];

    [GeneratedRegex(@"accepted from ([0-9.]+):\d+")]
    private static partial Regex AcceptedFrom();
}
