using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Tests;

/// <summary>UDP clients for tests: bound sockets on loopback, and bounded waits for an echo (or for its absence).</summary>
internal static class UdpTestHelpers
{
    /// <summary>How long a test waits to be sure a datagram was not answered; loopback answers in microseconds.</summary>
    public static readonly TimeSpan NoAnswerWait = TimeSpan.FromMilliseconds(300);

    public static EchoServerOptions UdpOptions(Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { UdpEndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        configure?.Invoke(options);
        return options;
    }

    public static IPEndPoint UdpEndPoint(this EchoServer server, int index = 0) =>
        (IPEndPoint)server.Listeners.Where(l => l.Transport == EchoTransport.Udp).ElementAt(index).EndPoint;

    /// <summary>A UDP socket bound to <paramref name="address"/> (an ephemeral port unless <paramref name="port"/> is given).</summary>
    public static Socket Client(IPAddress? address = null, int port = 0)
    {
        address ??= IPAddress.Loopback;
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    /// <summary>Sends one datagram and returns the first datagram that comes back, within the test timeout.</summary>
    public static async Task<byte[]> EchoDatagramAsync(this Socket client, IPEndPoint server, byte[] payload)
    {
        await client.SendToAsync(payload, SocketFlags.None, server);
        return await client.ReceiveDatagramAsync(TestHelpers.Timeout) ?? throw new TimeoutException("no echo came back");
    }

    /// <summary>The next datagram received, or <see langword="null"/> when none arrives within <paramref name="wait"/>.</summary>
    public static async Task<byte[]?> ReceiveDatagramAsync(this Socket client, TimeSpan wait)
    {
        var buffer = new byte[70_000];
        using var cts = new CancellationTokenSource(wait);
        try
        {
            var result = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(client.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), cts.Token);
            return buffer.AsSpan(0, result.ReceivedBytes).ToArray();
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}

/// <summary>Runs a tool no one here wrote (installed by `.ci/run` from Debian packages), feeding stdin and collecting stdout, all bounded in time.</summary>
internal static class ExternalTool
{
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    public static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    public static Process Start(string path, string arguments) =>
        Process.Start(new ProcessStartInfo(path, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;

    /// <summary>
    /// Writes <paramref name="input"/> (keeping stdin open), reads exactly <paramref name="expected"/> bytes of stdout,
    /// then ends the tool: for clients that would otherwise wait for more input or for a timeout of their own.
    /// </summary>
    public static async Task<byte[]> ExchangeAsync(string path, string arguments, byte[] input, int expected)
    {
        using var process = Start(path, arguments);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var errors = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            var output = new byte[expected];
            var reading = process.StandardOutput.BaseStream.ReadExactlyAsync(output, cts.Token).AsTask();
            await process.StandardInput.BaseStream.WriteAsync(input, cts.Token);
            await process.StandardInput.BaseStream.FlushAsync(cts.Token);
            try
            {
                await reading;
            }
            catch (Exception ex) when (ex is EndOfStreamException or OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{Path.GetFileName(path)} ended before {expected} bytes came back: {await errors}", ex);
            }

            return output;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Writes <paramref name="input"/>, closes stdin, and returns all of stdout once the tool exits.</summary>
    public static async Task<(int ExitCode, byte[] Output, string Error)> RunAsync(string path, string arguments, byte[] input)
    {
        using var process = Start(path, arguments);
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        try
        {
            var output = new MemoryStream();
            var reading = process.StandardOutput.BaseStream.CopyToAsync(output, cts.Token);
            var errors = process.StandardError.ReadToEndAsync(cts.Token);
            await process.StandardInput.BaseStream.WriteAsync(input, cts.Token);
            process.StandardInput.Close();
            await reading;
            await process.WaitForExitAsync(cts.Token);
            return (process.ExitCode, output.ToArray(), await errors);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
