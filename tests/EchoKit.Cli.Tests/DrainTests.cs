using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>--drain-delay</c>: after the first Ctrl+C or SIGTERM, <c>/readyz</c> answers 503 at once while the server goes
/// on accepting and echoing for the delay, then stops as before and exits 0.
/// </summary>
public class DrainTests
{
    [Fact]
    public async Task Readyz_turns_503_at_once_while_new_connections_still_echo_for_the_delay()
    {
        var admin = await AdminServe.StartAsync("--drain-delay", "3s");
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.Http.GetAsync("/readyz")).StatusCode);

            // The same path as Program's SIGINT/SIGTERM handler: the console's stop token.
            var stopping = admin.Run.StopAsync();
            var signalled = Stopwatch.StartNew();
            var (status, body) = await WaitForNotReadyAsync(admin.Http);
            var notReadyAfter = signalled.Elapsed;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("draining", body);
            Assert.True(notReadyAfter < TimeSpan.FromMilliseconds(1500), $"/readyz turned 503 after {notReadyAfter.TotalMilliseconds:F0} ms");

            // Still accepting and echoing, and still alive for /healthz.
            await admin.TimeOneEchoAsync();
            Assert.False(stopping.IsCompleted, "the drain ended before the new connection echoed");
            using var health = await admin.Http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            Assert.Equal(0, await stopping);
            Assert.True(signalled.Elapsed >= TimeSpan.FromMilliseconds(2900), $"stopped {signalled.Elapsed.TotalMilliseconds:F0} ms after the signal");
            Assert.Contains("Draining: still accepting and echoing for 3 s, /readyz answers 503", admin.Run.Output.Text, StringComparison.Ordinal);
        }
        finally
        {
            admin.Http.Dispose();
            admin.Run.Dispose();
        }
    }

    [Fact]
    public void The_phase_only_moves_forward_so_a_stopping_server_never_reads_ready_again()
    {
        var lifecycle = new ServeLifecycle();
        Assert.Equal(ServePhase.Starting, lifecycle.Phase);

        lifecycle.MoveTo(ServePhase.Serving);
        lifecycle.MoveTo(ServePhase.Stopping);
        lifecycle.MoveTo(ServePhase.Draining);   // a late drain after the stop began
        lifecycle.MoveTo(ServePhase.Serving);    // a late start

        Assert.Equal(ServePhase.Stopping, lifecycle.Phase);
    }

    [Fact]
    public async Task Sigterm_drains_then_the_process_exits_0()
    {
        using var child = ChildServe.Start("--drain-delay", "3s");
        var admin = await child.WaitForAsync("admin");
        var tcp = await child.WaitForAsync("tcp");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{admin}/"), Timeout = CliRun.Timeout };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        child.Signal("TERM");
        var signalled = Stopwatch.StartNew();
        var (status, _) = await WaitForNotReadyAsync(http);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.True(signalled.Elapsed < TimeSpan.FromMilliseconds(1500), $"/readyz turned 503 after {signalled.Elapsed.TotalMilliseconds:F0} ms");

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            using var cts = new CancellationTokenSource(CliRun.Timeout);
            await client.ConnectAsync(tcp, cts.Token);
            await client.SendAsync(new byte[] { 7 }, cts.Token);
            var echoed = new byte[1];
            Assert.Equal(1, await client.ReceiveAsync(echoed, SocketFlags.None, cts.Token));
            Assert.Equal(7, echoed[0]);
        }

        Assert.False(child.HasExited, "the process exited before the drain delay was over");
        Assert.Equal(0, await child.WaitForExitAsync());
        Assert.True(signalled.Elapsed >= TimeSpan.FromMilliseconds(2900), $"exited {signalled.Elapsed.TotalMilliseconds:F0} ms after SIGTERM");
    }

    /// <summary>Polls <c>/readyz</c> (bounded) until it is not 200; returns its status and the <c>status</c> field.</summary>
    private static async Task<(HttpStatusCode Status, string? Body)> WaitForNotReadyAsync(HttpClient http)
    {
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 1000 && deadline.Elapsed < CliRun.Timeout; attempt++)
        {
            using var response = await http.GetAsync("/readyz");
            if (response.StatusCode != HttpStatusCode.OK)
            {
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                return (response.StatusCode, body.RootElement.GetProperty("status").GetString());
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("/readyz stayed 200");
    }

    /// <summary><c>dotnet EchoKit.Cli.dll serve --tcp 127.0.0.1:0 --admin 127.0.0.1:0 --quiet ARGS</c> as a child process, to signal.</summary>
    private sealed class ChildServe : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly Lock _lock = new();

        private ChildServe(Process process) => _process = process;

        public bool HasExited => _process.HasExited;

        private string Output
        {
            get
            {
                lock (_lock)
                {
                    return _output.ToString();
                }
            }
        }

        public static ChildServe Start(params string[] args)
        {
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path ? path : "dotnet";
            var info = new ProcessStartInfo(host)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "EchoKit.Cli.dll"), "serve", "--tcp", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--quiet" }.Concat(args))
            {
                info.ArgumentList.Add(argument);
            }

            var process = new Process { StartInfo = info };
            var child = new ChildServe(process);
            process.OutputDataReceived += (_, e) => child.Append(e.Data);
            process.ErrorDataReceived += (_, e) => child.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return child;
        }

        public async Task<IPEndPoint> WaitForAsync(string transport)
        {
            var prefix = $"Listening on {transport} ";
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < CliRun.Timeout)
            {
                if (Output.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line)
                {
                    return IPEndPoint.Parse(line[prefix.Length..].Trim());
                }

                Assert.False(_process.HasExited, $"echokit exited before listening:\n{Output}");
                await Task.Delay(20);
            }

            throw new TimeoutException($"echokit did not listen in time:\n{Output}");
        }

        public void Signal(string name)
        {
            using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }

        public async Task<int> WaitForExitAsync()
        {
            using var cts = new CancellationTokenSource(CliRun.Timeout);
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(CliRun.Timeout);
            }

            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lock)
            {
                _output.AppendLine(line);
            }
        }
    }
}
