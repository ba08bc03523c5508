using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace EchoKit.Cli.Tests;

/// <summary>
/// <c>echokit serve</c> in a child process started with a low <c>RLIMIT_NOFILE</c> (<c>ulimit -n 128</c>), offered
/// more clients than its descriptors allow, 20 rounds over: the process never dies (the runtime keeps the
/// descriptors it needs to start threads), every client it cannot serve sees a close within a second instead of
/// waiting in the backlog, a client is served again as soon as a descriptor frees up, and the descriptor count
/// returns to its baseline after every round.
/// </summary>
public partial class DescriptorExhaustionTests(ITestOutputHelper output)
{
    private const int Limit = 128;
    private const int Rounds = 20;
    private const int ExcessClients = 12;
    private static readonly TimeSpan CloseWithin = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan TestLimit = TimeSpan.FromSeconds(55);

    [Fact]
    public async Task At_the_descriptor_limit_the_server_never_dies_closes_what_it_cannot_serve_and_leaks_nothing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;   // bash's ulimit and /proc/PID/fd: Linux only, like the issue's reproduction.
        }

        var clock = Stopwatch.StartNew();
        using var server = LimitedServer.Start(Limit);
        var endPoint = await server.WaitForListenerAsync();

        // A warm-up round first: the first rejection and close load code, and each assembly loaded keeps descriptors.
        output.WriteLine(await RunRoundAsync(server, endPoint, round: 0));
        var baseline = await server.WaitForSteadyDescriptorCountAsync();
        output.WriteLine($"baseline: {baseline} descriptors of {Limit}");

        for (var round = 1; round <= Rounds; round++)
        {
            Assert.True(clock.Elapsed < TestLimit, $"only {round - 1} of {Rounds} rounds ran in {TestLimit.TotalSeconds} s\n{server.Describe()}");
            output.WriteLine(await RunRoundAsync(server, endPoint, round));
            await server.WaitForDescriptorCountAsync(baseline, $"round {round}");
        }

        Assert.False(server.HasExited, server.Describe());
        var log = server.Error;
        Assert.DoesNotContain("Out of memory", log, StringComparison.Ordinal);
        Assert.Contains("cannot fit under the file descriptor limit", log, StringComparison.Ordinal);   // event 6 at start

        // Event 46 is rate-limited to one line per second however many connections were closed.
        var rejectionWarnings = RejectionWarning().Count(log);
        Assert.InRange(rejectionWarnings, 1, (int)clock.Elapsed.TotalSeconds + 2);
        output.WriteLine($"{Rounds} rounds in {clock.Elapsed.TotalSeconds:0.0} s; {rejectionWarnings} rate-limited rejection warning(s)");
    }

    /// <summary>
    /// Opens more clients than the free descriptors allow, then checks each: served (its bytes come back) or closed
    /// (read returns 0 or is reset) within <see cref="CloseWithin"/>; none left waiting. Then frees one served
    /// client's descriptor and expects the next new client to be served.
    /// </summary>
    private static async Task<string> RunRoundAsync(LimitedServer server, IPEndPoint endPoint, int round)
    {
        var free = Limit - server.CountDescriptors();
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < free + ExcessClients; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                clients.Add(client);
                await client.ConnectAsync(endPoint).WaitAsync(WaitLimit);
            }

            var outcomes = await Task.WhenAll(clients.Select((c, i) => ProbeAsync(c, $"r{round}c{i}")));
            var hung = outcomes.Count(o => o == Outcome.Hung);
            var served = outcomes.Count(o => o == Outcome.Served);
            var closed = outcomes.Count(o => o == Outcome.Closed);
            var line = $"round {round}: {clients.Count} clients, {served} served, {closed} closed, {hung} unanswered after {CloseWithin.TotalSeconds} s";
            var summary = $"{line}\n{server.Describe()}";
            Assert.False(server.HasExited, summary);
            Assert.True(hung == 0, summary);
            Assert.True(served >= 1, summary);
            Assert.True(closed >= ExcessClients, summary);

            // One descriptor frees up: the next client is served once the server has seen the close.
            var freed = outcomes.ToList().IndexOf(Outcome.Served);
            clients[freed].Dispose();
            await AssertServedSoonAsync(server, endPoint, $"r{round}next", summary);
            return line;
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private enum Outcome
    {
        Served,
        Closed,
        Hung,
    }

    /// <summary>Sends a message and waits up to <see cref="CloseWithin"/> for its echo or for the close.</summary>
    private static async Task<Outcome> ProbeAsync(Socket client, string text)
    {
        var message = Encoding.ASCII.GetBytes(text);
        using var timeout = new CancellationTokenSource(CloseWithin);
        try
        {
            await client.SendAsync(message, SocketFlags.None, timeout.Token);
            var received = new byte[message.Length];
            var total = 0;
            while (total < received.Length)
            {
                var read = await client.ReceiveAsync(received.AsMemory(total), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    return Outcome.Closed;
                }

                total += read;
            }

            Assert.Equal(text, Encoding.ASCII.GetString(received));
            return Outcome.Served;
        }
        catch (OperationCanceledException)
        {
            return Outcome.Hung;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
            return Outcome.Closed;
        }
    }

    private static async Task AssertServedSoonAsync(LimitedServer server, IPEndPoint endPoint, string text, string context)
    {
        var deadline = Stopwatch.StartNew();
        var attempts = 0;
        while (deadline.Elapsed < WaitLimit)
        {
            attempts++;
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await client.ConnectAsync(endPoint).WaitAsync(WaitLimit);
            switch (await ProbeAsync(client, text))
            {
                case Outcome.Served:
                    return;
                case Outcome.Hung:
                    Assert.Fail($"a new client after a close was left unanswered\n{context}");
                    break;
            }

            await Task.Delay(20);   // closed: the server has not seen the freed descriptor yet; ask again
        }

        Assert.Fail($"no new client was served within {WaitLimit.TotalSeconds} s of a close ({attempts} tries)\n{context}\n{server.Describe()}");
    }

    [GeneratedRegex("closed at once: the process is at its file descriptor limit")]
    private static partial Regex RejectionWarning();

    /// <summary>The serve command in a child process under <c>ulimit -n</c>, with its output captured.</summary>
    private sealed class LimitedServer : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly StringBuilder _error = new();
        private readonly Lock _lock = new();

        private LimitedServer(Process process)
        {
            _process = process;
        }

        public bool HasExited => _process.HasExited;

        public string Error
        {
            get
            {
                lock (_lock)
                {
                    return _error.ToString();
                }
            }
        }

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

        public static LimitedServer Start(int limit)
        {
            var cli = Path.Combine(AppContext.BaseDirectory, "EchoKit.Cli.dll");
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path ? path : "dotnet";
            var info = new ProcessStartInfo("bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };

            // exec: the server keeps bash's pid, so /proc/PID/fd is the server's.
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"ulimit -n {limit} && exec \"$0\" \"$@\"");
            foreach (var argument in new[] { host, cli, "serve", "--tcp", "127.0.0.1:0", "--quiet" })
            {
                info.ArgumentList.Add(argument);
            }

            var process = new Process { StartInfo = info };
            var server = new LimitedServer(process);
            process.OutputDataReceived += (_, e) => server.Append(server._output, e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(server._error, e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return server;
        }

        public async Task<IPEndPoint> WaitForListenerAsync()
        {
            var pattern = new Regex(@"^Listening on tcp (\S+)$", RegexOptions.Multiline);
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < CliRun.Timeout)
            {
                if (pattern.Match(Output) is { Success: true } match)
                {
                    return IPEndPoint.Parse(match.Groups[1].Value);
                }

                Assert.False(HasExited, $"echokit exited before listening\n{Describe()}");
                await Task.Delay(20);
            }

            throw new TimeoutException($"echokit did not listen in time\n{Describe()}");
        }

        public int CountDescriptors() => Directory.GetFileSystemEntries($"/proc/{_process.Id}/fd").Length;

        /// <summary>Waits until the count holds still for a moment (closes finish asynchronously) and returns it.</summary>
        public async Task<int> WaitForSteadyDescriptorCountAsync()
        {
            var deadline = Stopwatch.StartNew();
            var last = CountDescriptors();
            var steadySince = Stopwatch.StartNew();
            while (deadline.Elapsed < WaitLimit)
            {
                await Task.Delay(50);
                var now = CountDescriptors();
                if (now != last)
                {
                    last = now;
                    steadySince.Restart();
                }
                else if (steadySince.Elapsed > TimeSpan.FromMilliseconds(500))
                {
                    return now;
                }
            }

            throw new TimeoutException($"the descriptor count never settled (last {last})\n{Describe()}");
        }

        public async Task WaitForDescriptorCountAsync(int baseline, string when)
        {
            var deadline = Stopwatch.StartNew();
            var now = CountDescriptors();
            while (now != baseline && deadline.Elapsed < WaitLimit)
            {
                await Task.Delay(20);
                now = CountDescriptors();
            }

            Assert.True(now == baseline, $"after {when} the server holds {now} descriptors, {baseline} before: a leak\n{Describe()}");
        }

        public string Describe() =>
            $"exited: {HasExited}{(HasExited ? $" with {_process.ExitCode}" : "")}\nstdout:\n{Output}\nstderr (last 4000 chars):\n{Tail(Error, 4000)}";

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(WaitLimit);
                }
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }

            _process.Dispose();
        }

        private static string Tail(string text, int length) => text.Length <= length ? text : text[^length..];

        private void Append(StringBuilder target, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lock)
            {
                target.AppendLine(line);
            }
        }
    }
}
