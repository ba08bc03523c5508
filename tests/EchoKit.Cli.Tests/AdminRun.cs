using System.Diagnostics;
using System.Net;
using EchoKit.Testing;

namespace EchoKit.Cli.Tests;

/// <summary>
/// An in-process <c>echokit</c> run with an HTTP API (<c>serve --admin</c>, <c>proxy --admin</c>) and a client on it.
/// Disposing stops the run as Ctrl+C does and fails the test unless it exited 0, so every test checks a clean stop.
/// </summary>
internal abstract class AdminRun : IAsyncDisposable
{
    protected AdminRun(CliRun run, IPEndPoint admin)
    {
        Run = run;
        Admin = admin;
        Http = new HttpClient { BaseAddress = new Uri($"http://{admin}/"), Timeout = CliRun.Timeout };
    }

    public CliRun Run { get; }

    public IPEndPoint Admin { get; }

    public HttpClient Http { get; }

    /// <summary>Connects to <paramref name="endPoint"/>, sends 4 bytes and times until they are back through every hop.</summary>
    public static async Task<TimeSpan> TimeOneEchoAsync(EndPoint endPoint)
    {
        using var client = await SocketTestHelpers.ConnectAsync(endPoint);
        var started = Stopwatch.StartNew();
        var echoed = await client.EchoAsync([1, 2, 3, 4]);
        var elapsed = started.Elapsed;
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, echoed);
        return elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        var exitCode = await Run.StopAsync();
        Run.Dispose();
        await DisposeMoreAsync();
        Assert.True(exitCode == 0, $"echokit exited with {exitCode}.\nstderr:\n{Run.Error.Text}");
    }

    /// <summary>What the run needed besides itself (an upstream server), disposed once it has stopped.</summary>
    protected virtual ValueTask DisposeMoreAsync() => ValueTask.CompletedTask;
}
