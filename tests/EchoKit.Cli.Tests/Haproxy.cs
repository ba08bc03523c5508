using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EchoKit.Cli.Tests;

/// <summary>
/// A real HAProxy (Debian's <c>haproxy</c> package, which .ci/run installs) run in the foreground from a configuration
/// the test writes, on loopback only. Disposing it kills it.
/// </summary>
internal sealed class Haproxy : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly StringWriterLog _log = new();

    private Haproxy(Process process, string directory)
    {
        _process = process;
        _directory = directory;
    }

    /// <summary>What HAProxy wrote to its standard error (its warnings and alerts).</summary>
    public string Log => _log.Text;

    /// <summary>Whether the haproxy binary is on PATH; CI installs it, so there a missing one is a failure, not a skip.</summary>
    public static bool IsInstalled => FindOnPath("haproxy") is not null;

    /// <summary>
    /// The global section, defaults and frontend every scenario shares (TCP mode, a frontend on 127.0.0.1:<paramref name="frontend"/>
    /// to backend <c>be</c>), then <paramref name="backends"/>, which names backend <c>be</c>; <paramref name="defaults"/> adds lines to the defaults.
    /// </summary>
    public static string Configuration(int frontend, string backends, string defaults = "") => $"""
        global
          maxconn 1000
        defaults
          mode tcp
          timeout connect 2s
          timeout client 30s
          timeout server 30s
        {defaults}
        frontend fe
          bind 127.0.0.1:{frontend}
          default_backend be
        {backends}

        """;

    /// <summary>Writes <paramref name="configuration"/>, starts HAProxy on it, and waits until every port of <paramref name="frontends"/> accepts.</summary>
    public static async Task<Haproxy> StartAsync(string configuration, params int[] frontends)
    {
        var directory = Directory.CreateTempSubdirectory("echokit-haproxy-").FullName;
        var path = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(path, configuration);
        var check = Process.Start(new ProcessStartInfo("haproxy", ["-c", "-f", path]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var checkOutput = await check.StandardError.ReadToEndAsync() + await check.StandardOutput.ReadToEndAsync();
        await check.WaitForExitAsync();
        if (check.ExitCode != 0)
        {
            throw new InvalidOperationException($"haproxy -c rejected the configuration:\n{checkOutput}\n{configuration}");
        }

        // -db: stay in the foreground, so the test owns the process and its output.
        var process = Process.Start(new ProcessStartInfo("haproxy", ["-db", "-f", path]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var haproxy = new Haproxy(process, directory);
        process.ErrorDataReceived += (_, e) => haproxy._log.Add(e.Data);
        process.OutputDataReceived += (_, e) => haproxy._log.Add(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        foreach (var port in frontends)
        {
            await haproxy.WaitForPortAsync(port);
        }

        return haproxy;
    }

    /// <summary>A port free on 127.0.0.1 right now (bound and released), for a frontend.</summary>
    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private async Task WaitForPortAsync(int port)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < CliRun.Timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"haproxy exited with {_process.ExitCode}:\n{Log}");
            }

            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"haproxy did not listen on {port} in time:\n{Log}");
    }

    private sealed class StringWriterLog
    {
        private readonly List<string> _lines = [];

        public string Text
        {
            get
            {
                lock (_lines)
                {
                    return string.Join('\n', _lines);
                }
            }
        }

        public void Add(string? line)
        {
            if (line is not null)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }
            }
        }
    }
}
