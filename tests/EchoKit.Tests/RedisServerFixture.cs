using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EchoKit.Tests;

/// <summary>
/// A real <c>redis-server</c> process for the tests of one class: started on 127.0.0.1 with a free port, no
/// persistence, no config file and a temporary working directory; killed (and its directory deleted) at the end.
/// When <c>redis-server</c> is not on PATH the fixture throws, so every test of the class fails with that message:
/// CI installs it (.ci/run), and a missing server must not pass as skipped tests.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly StringBuilder _output = new();
    private Process? _process;
    private string? _directory;

    /// <summary>Where the server listens (loopback); valid after <see cref="InitializeAsync"/>.</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>What the server printed so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task InitializeAsync()
    {
        var executable = FindOnPath("redis-server") ?? throw new InvalidOperationException(
            "redis-server is not on PATH: RedisThroughProxyTests run a real Redis server behind the fault proxy. " +
            "Install it (Debian/Ubuntu: apt-get install redis-server; .ci/run does this).");
        _directory = Directory.CreateTempSubdirectory("echokit-redis-").FullName;

        // A free port is found by binding port 0 and releasing it; another process may take it before redis-server
        // binds, so a server that exits at once is retried on a new port.
        for (var attempt = 1; ; attempt++)
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, FreeLoopbackPort());
            _process = Start(executable, EndPoint.Port, _directory);
            if (await AnswersPingAsync(_process, EndPoint))
            {
                return;
            }

            Kill();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"redis-server ({executable}) did not answer PING on {EndPoint} within {StartTimeout.TotalSeconds} s. Its output:\n{Output}");
            }
        }
    }

    public Task DisposeAsync()
    {
        Kill();
        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A temp directory left behind is harmless; failing the test run over it is not.
            }
        }

        return Task.CompletedTask;
    }

    private Process Start(string executable, int port, string directory)
    {
        var start = new ProcessStartInfo(executable)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--dir", directory,
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <summary>Waits until the server answers a raw RESP PING with +PONG, or has exited, or the start timeout passed.</summary>
    private static async Task<bool> AnswersPingAsync(Process process, IPEndPoint endPoint)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout && !process.HasExited)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await socket.ConnectAsync(endPoint, attempt.Token);
                await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, attempt.Token);
                var buffer = new byte[16];
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, attempt.Token);
                if (Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                // Not listening yet (or still loading): try again shortly.
            }

            await Task.Delay(50);
        }

        return false;
    }

    private void Kill()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }

        _process.Dispose();
        _process = null;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private static int FreeLoopbackPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
