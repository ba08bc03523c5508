using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using EchoKit.Benchmarks.Servers;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>
/// One server under test, running as a child process of this executable (<c>serve &lt;name&gt; --port N</c>), or, for
/// <see cref="BenchServers.CEpoll"/>, of <c>Native/echoserve.c</c> compiled with gcc (<c>echoserve N</c>), which speaks the
/// same protocol on its standard streams (READY, allocated/ALLOCATED, stop on end of stdin), or, for
/// <see cref="BenchServers.ProxyHAProxy"/>, of HAProxy (<see cref="HAProxy"/>), which does not: it is ready when its port
/// accepts, has no allocation figures and is stopped with a signal. A proxy gets its upstream's endpoint.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Threading.Channels.Channel<long> _allocated = System.Threading.Channels.Channel.CreateUnbounded<long>();
    private bool _stopRequested;
    private string? _configFile;

    private ServerProcess(string name, int port, IPEndPoint? upstream, Process process)
    {
        Name = name;
        Port = port;
        Upstream = upstream;
        _process = process;
    }

    public string Name { get; }

    /// <summary>The server a proxy relays to; <see langword="null"/> for an echo server.</summary>
    public IPEndPoint? Upstream { get; }

    public int Port { get; }

    public int Pid => _process.Id;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    /// <summary>Whether the process ended without being asked to.</summary>
    public bool Crashed => _process.HasExited && !_stopRequested;

    public string StandardErrorTail => string.Join(" | ", _stderr.TakeLast(5));

    /// <summary>Whether the process answers READY and allocated on its standard streams (all but HAProxy).</summary>
    private bool SpeaksServeProtocol => !BenchServers.IsHAProxy(Name);

    /// <summary>
    /// Starts the server on a free loopback port (a proxy relaying to <paramref name="upstream"/>) and waits until it is
    /// ready; retries a taken port twice.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(string name, IPEndPoint? upstream = null)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var server = new ServerProcess(name, FreePort(), upstream, new Process());
            try
            {
                await server.StartCoreAsync();
                return server;
            }
            catch (InvalidOperationException ex)
            {
                last = ex;
                await server.DisposeAsync();
            }
        }

        throw new InvalidOperationException($"{name} did not start: {last?.Message}", last);
    }

    /// <summary>Closes the server's standard input (it stops) and waits; kills it after 15 s. Returns a note when the stop was not clean.</summary>
    public async Task<string?> StopAsync()
    {
        if (_process.HasExited)
        {
            return _stopRequested ? null : $"exited early with code {_process.ExitCode}";
        }

        _stopRequested = true;
        if (!SpeaksServeProtocol)
        {
            // HAProxy stops gracefully on SIGUSR1 (or at once on SIGTERM), but .NET sends neither without P/Invoke;
            // the measurement is over and it keeps nothing worth flushing, so SIGKILL (Process.Kill) does as well.
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Exited in the meantime.
            }

            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(StopTimeout);
            return null;
        }

        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        using var timeout = new CancellationTokenSource(StopTimeout);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode == 0 ? null : $"exited with code {_process.ExitCode} when stopped";
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            return $"did not stop within {StopTimeout.TotalSeconds:0} s and was killed";
        }
    }

    /// <summary>Asks the server for the bytes it has allocated so far; the answer is read, in order, by <see cref="ReadAllocatedBytesAsync"/>.</summary>
    public void RequestAllocatedBytes()
    {
        if (!SpeaksServeProtocol)
        {
            return;
        }

        try
        {
            _process.StandardInput.WriteLine(ServeCommand.AllocatedRequest);
            _process.StandardInput.Flush();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // The server is gone; the reading side times out.
        }
    }

    /// <summary>The next answer to <see cref="RequestAllocatedBytes"/>, or <see langword="null"/> when none comes within 5 s.</summary>
    public async Task<long?> ReadAllocatedBytesAsync()
    {
        if (!SpeaksServeProtocol)
        {
            return null;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            return await _allocated.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await StopAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
        if (_configFile is not null)
        {
            File.Delete(_configFile);
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Compiles the C server <paramref name="name"/> (<see cref="BenchServers.IsNative"/>) once per process; returns the executable's path.</summary>
    public static Task<string> EnsureNativeBuiltAsync(string name) =>
        NativeBuild.EnsureBuiltAsync("echoserve.c", $"the {name} server", $"or leave {name} out of --servers");

    private async Task<ProcessStartInfo> StartInfoAsync()
    {
        if (BenchServers.IsHAProxy(Name))
        {
            var upstream = Upstream ?? throw new InvalidOperationException($"{Name} is a proxy and needs an upstream.");
            var haproxy = HAProxy.StartInfo(Port, upstream, out var configFile);
            _configFile = configFile;
            return haproxy;
        }

        if (BenchServers.IsNative(Name))
        {
            var executable = await EnsureNativeBuiltAsync(Name);
            var native = new ProcessStartInfo(executable)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            native.ArgumentList.Add(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            native.ArgumentList.Add("127.0.0.1");
            return native;
        }

        return ServeStartInfo();
    }

    private ProcessStartInfo ServeStartInfo()
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("Environment.ProcessPath is unknown.");
        info.FileName = host;
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // Started as "dotnet EchoKit.Benchmarks.dll": the child needs the assembly path too.
            info.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }

        info.ArgumentList.Add("serve");
        info.ArgumentList.Add(Name);
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (Upstream is not null)
        {
            info.ArgumentList.Add("--upstream");
            info.ArgumentList.Add(Upstream.ToString());
        }

        foreach (var (variable, value) in BenchServers.EnvironmentFor(Name))
        {
            info.Environment[variable] = value;
        }

        return info;
    }

    /// <summary>For a process without a READY line: ready once its port accepts a connection (polled every 50 ms until <see cref="ReadyTimeout"/>).</summary>
    private async Task SignalReadyWhenListeningAsync()
    {
        var attempts = (int)(ReadyTimeout / TimeSpan.FromMilliseconds(50));
        for (var attempt = 0; attempt < attempts && !_ready.Task.IsCompleted; attempt++)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(EndPoint);
                _ready.TrySetResult(true);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
    }

    private async Task StartCoreAsync()
    {
        _process.StartInfo = await StartInfoAsync();
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _ready.TrySetResult(false);
            }
            else if (e.Data.Trim() == $"READY {Port}")
            {
                _ready.TrySetResult(true);
            }
            else if (e.Data.StartsWith(ServeCommand.AllocatedReply + " ", StringComparison.Ordinal) &&
                long.TryParse(e.Data.AsSpan(ServeCommand.AllocatedReply.Length + 1), System.Globalization.CultureInfo.InvariantCulture, out var bytes))
            {
                _allocated.Writer.TryWrite(bytes);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _stderr.Enqueue(e.Data);
                while (_stderr.Count > 50 && _stderr.TryDequeue(out var _))
                {
                }
            }
        };
        try
        {
            _process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"{_process.StartInfo.FileName} could not be run: {ex.Message}", ex);
        }

        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!SpeaksServeProtocol)
        {
            _ = SignalReadyWhenListeningAsync();
        }

        bool ready;
        try
        {
            ready = await _ready.Task.WaitAsync(ReadyTimeout);
        }
        catch (TimeoutException)
        {
            ready = false;
        }

        if (!ready)
        {
            throw new InvalidOperationException($"no READY line within {ReadyTimeout.TotalSeconds:0} s; stderr: {StandardErrorTail}");
        }
    }
}
