using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>Which load client drives pingpong, rate and throughput.</summary>
internal enum LoadClientKind
{
    /// <summary>The in-process .NET client, <c>src/EchoKit.LoadGenerator</c>.</summary>
    DotNet,

    /// <summary><c>Native/echoload.c</c>: a single-threaded epoll client in C, in its own process.</summary>
    Native,
}

/// <summary>What one echoload run reported (its JSON line); latencies in microseconds.</summary>
internal sealed record NativeEchoResult(
    long Messages,
    long Bytes,
    double Seconds,
    double MessagesPerSecond,
    double MiBPerSecond,
    double P50,
    double P90,
    double P99,
    double P999,
    double Max,
    long Errors,
    long Mismatches,
    string? FirstError);

/// <summary>
/// Compiles <c>Native/echoload.c</c> with gcc (once per process, <see cref="NativeBuild"/>) and runs it
/// against a server: the window markers it prints let the caller sample the server's CPU exactly around the measured window.
/// </summary>
internal static class NativeLoadClient
{
    /// <summary>Compiles echoload the first time it is called (<see cref="NativeBuild"/>); later calls return the same task. Throws <see cref="InvalidOperationException"/> when gcc is missing or fails.</summary>
    public static Task<string> EnsureBuiltAsync() => NativeBuild.EnsureBuiltAsync("echoload.c", "--client native", "or use --client dotnet");

    /// <summary>Runs echoload against <paramref name="ctx"/>'s server; calls <paramref name="windowStarted"/> and <paramref name="windowEnded"/> at the edges of the measured window.</summary>
    public static async Task<NativeEchoResult> RunAsync(
        ScenarioContext ctx, int connections, int messageSize, int inFlight, Action windowStarted, Action windowEnded)
    {
        var executable = await EnsureBuiltAsync();
        var settings = ctx.Settings;
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var endPoint = ctx.Server.EndPoint;
        info.ArgumentList.Add(endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "::1" : "127.0.0.1");
        info.ArgumentList.Add(endPoint.Port.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(connections.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(messageSize.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(inFlight.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(settings.Warmup.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        info.ArgumentList.Add(settings.Duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        if (ctx.ProxyHeader == EchoKit.LoadGenerator.ProxyHeaderVersion.V2)
        {
            info.ArgumentList.Add("proxy-v2");
        }

        using var process = new Process { StartInfo = info };
        if (!process.Start())
        {
            throw new InvalidOperationException($"{executable} did not start");
        }

        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(settings.Warmup + settings.Duration + TimeSpan.FromSeconds(30));
        string? json = null;
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                switch (line.Trim())
                {
                    case "WINDOW START":
                        windowStarted();
                        break;
                    case "WINDOW END":
                        windowEnded();
                        break;
                    case var other when other.StartsWith('{'):
                        json = other;
                        break;
                }
            }

            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"echoload did not finish within {settings.Warmup + settings.Duration + TimeSpan.FromSeconds(30)} and was killed");
        }

        var errors = (await stderr).Trim();
        if (process.ExitCode != 0 || json is null)
        {
            throw new InvalidOperationException($"echoload exited with code {process.ExitCode} without a result: {errors}");
        }

        return Parse(json);
    }

    private static NativeEchoResult Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var firstError = root.GetProperty("first_error");
        return new NativeEchoResult(
            root.GetProperty("messages").GetInt64(),
            root.GetProperty("bytes").GetInt64(),
            root.GetProperty("seconds").GetDouble(),
            root.GetProperty("msgs_per_s").GetDouble(),
            root.GetProperty("mib_per_s").GetDouble(),
            root.GetProperty("p50_us").GetDouble(),
            root.GetProperty("p90_us").GetDouble(),
            root.GetProperty("p99_us").GetDouble(),
            root.GetProperty("p999_us").GetDouble(),
            root.GetProperty("max_us").GetDouble(),
            root.GetProperty("errors").GetInt64(),
            root.GetProperty("mismatches").GetInt64(),
            firstError.ValueKind == JsonValueKind.String ? firstError.GetString() : null);
    }
}
