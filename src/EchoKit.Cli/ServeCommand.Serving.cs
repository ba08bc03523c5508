using System.CommandLine;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using static EchoKit.Cli.EchoKitCommandLine;

namespace EchoKit.Cli;

/// <summary>
/// Serving: the admin endpoint and the echo listeners up, the status line until the first signal, then the drain,
/// the graceful stop and the summary.
/// </summary>
internal sealed partial class ServeCommand
{
    private async Task<int> ServeAsync(EchoServer server, TimeSpan shutdownTimeout, AdminSettings? adminSettings, ParseResult parseResult, CliConsole console, LiveLine live)
    {
        var faulted = 0;
        server.ServerFaulted += (_, e) =>
        {
            Interlocked.Exchange(ref faulted, 1);
            live.WriteLine($"echokit serve: the listener on {e.EndPoint} failed: {e.Exception.Message}");
        };

        var lifecycle = new ServeLifecycle();
        using var faultsChanged = new SemaphoreSlim(0, 1);
        AdminEndpoint? admin = null;
        if (adminSettings is not null)
        {
            // Up before the echo listeners, so /readyz can answer 503 while they are bound.
            try
            {
                admin = await AdminEndpoint.StartAsync(
                    adminSettings.EndPoint, server, lifecycle, adminSettings.LogProvider, adminSettings.LogLevel, adminSettings.Logger,
                    () => StatusLine.Wake(faultsChanged), console.Stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
            {
                return await StoppedWhileStartingAsync(console).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException)
            {
                await console.Error.WriteLineAsync($"echokit serve: failed to start the admin endpoint on {adminSettings.EndPoint}: {ex.Message}").ConfigureAwait(false);
                return Failure;
            }
        }

        try
        {
            return await RunServerAsync(server, shutdownTimeout, admin, lifecycle, faultsChanged, parseResult, console, live, () => Volatile.Read(ref faulted) != 0).ConfigureAwait(false);
        }
        finally
        {
            // Last, so /readyz answers 503 through the whole stop rather than refusing connections.
            if (admin is not null)
            {
                await admin.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<int> RunServerAsync(
        EchoServer server, TimeSpan shutdownTimeout, AdminEndpoint? admin, ServeLifecycle lifecycle, SemaphoreSlim faultsChanged,
        ParseResult parseResult, CliConsole console, LiveLine live, Func<bool> faulted)
    {
        try
        {
            await server.StartAsync(console.Stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
        {
            return await StoppedWhileStartingAsync(console).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException or AuthenticationException
            or CryptographicException or PlatformNotSupportedException or NotSupportedException)
        {
            await console.Error.WriteLineAsync($"echokit serve: failed to start: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }

        lifecycle.MoveTo(ServePhase.Serving);
        var started = Stopwatch.GetTimestamp();
        foreach (var listener in server.Listeners)
        {
            await console.Output.WriteLineAsync($"Listening on {listener}").ConfigureAwait(false);
        }

        if (admin is not null)
        {
            await console.Output.WriteLineAsync($"Listening on admin {admin.EndPoint}").ConfigureAwait(false);
        }

        var showFaults = admin is not null || server.Faults.Rules.Count > 0;
        await _run.UntilStoppedAsync(
            parseResult, console, live, interval => StatusLine.ShowAsync(server, live, interval, showFaults ? faultsChanged : null, console.Width, console.Stop)).ConfigureAwait(false);
        if (parseResult.GetValue(_drainDelay) is var drainDelay && drainDelay > TimeSpan.Zero)
        {
            await DrainAsync(drainDelay, admin, lifecycle, console).ConfigureAwait(false);
        }

        lifecycle.MoveTo(ServePhase.Stopping);
        var draining = server.GetStatistics().ActiveConnections;
        await console.Output.WriteLineAsync(draining == 0
            ? "Stopping."
            : $"Stopping: letting {Formatting.Count(draining)} connection(s) finish their echoes for up to {Formatting.Seconds(shutdownTimeout)} (Ctrl+C again to abort).").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        await server.StopAsync(console.Abort).ConfigureAwait(false);

        await console.Output.WriteLineAsync(Summary(server, Stopwatch.GetElapsedTime(started))).ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        return faulted() ? Failure : Success;
    }

    /// <summary>
    /// <c>--drain-delay</c>: not ready any more (<c>/readyz</c> 503) but still accepting and echoing, so whatever
    /// routes clients here (a load balancer polling <c>/readyz</c>) stops before connections are refused. A second
    /// Ctrl+C or SIGTERM cuts it short, and aborts the stop that follows, as it always does.
    /// </summary>
    private static async Task DrainAsync(TimeSpan delay, AdminEndpoint? admin, ServeLifecycle lifecycle, CliConsole console)
    {
        lifecycle.MoveTo(ServePhase.Draining);
        if (admin is not null)
        {
            admin.LogDraining(delay);
        }

        await console.Output.WriteLineAsync($"Draining: still accepting and echoing for {Formatting.Seconds(delay)}{(admin is null ? "" : ", /readyz answers 503")} (Ctrl+C again to stop at once).").ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
        try
        {
            await Task.Delay(delay, console.Abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The second signal: stop now.
        }
    }

    /// <summary>The last line, once the server has stopped: what it did over the whole run.</summary>
    private static string Summary(EchoServer server, TimeSpan uptime)
    {
        var totals = server.GetStatistics();
        var summary = $"Stopped after {Formatting.Uptime(uptime)}: {Formatting.Count(totals.AcceptedConnections)} connection(s) accepted, " +
            $"{Formatting.Count(totals.RejectedConnections)} rejected, {Formatting.Bytes(totals.BytesReceived)} received, {Formatting.Bytes(totals.BytesSent)} echoed";
        if (server.Listeners.Any(l => l.Transport == EchoTransport.Udp))
        {
            summary += $", {Formatting.Count(totals.DatagramsEchoed)} datagram(s) echoed, {Formatting.Count(totals.DatagramsDropped)} dropped";
        }

        return summary + ".";
    }

    /// <summary>The first signal came before every listener was up: nothing was served, so no summary.</summary>
    private static async Task<int> StoppedWhileStartingAsync(CliConsole console)
    {
        await console.Error.WriteLineAsync("echokit serve: stopped while starting.").ConfigureAwait(false);
        return Interrupted;
    }
}
