using System.Diagnostics;
using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>
/// toxiproxy-node-client 4.1.0, a real Toxiproxy client from npm, run through toxiproxy-client/client.js: one step per
/// <c>node</c> process. <c>npm ci</c> runs once per test run in the output's copy of the project. Node and npm are
/// required (CI installs them): without them the tests fail, saying so, rather than skip.
/// </summary>
internal static class ToxiproxyNodeClient
{
    private static readonly string ProjectDirectory = Path.Combine(AppContext.BaseDirectory, "toxiproxy-client");
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static bool s_installed;

    /// <summary>Runs <c>npm ci</c> unless the pinned client is already installed from this lock file.</summary>
    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            var installed = Path.Combine(ProjectDirectory, "node_modules", "toxiproxy-node-client", "package.json");
            if (s_installed || (File.Exists(installed) && File.ReadAllText(installed).Contains("\"version\": \"4.1.0\"", StringComparison.Ordinal)))
            {
                s_installed = true;
                return;
            }

            var (exitCode, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(3));
            Assert.True(exitCode == 0, $"npm ci failed in {ProjectDirectory} (exit code {exitCode}):\n{output}");
            s_installed = true;
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>Runs one step of client.js against <paramref name="api"/>; returns what it printed: <c>{"ok", "result"|"error"}</c>.</summary>
    public static async Task<JsonElement> StepAsync(Uri api, string step, params string[] args)
    {
        var (exitCode, output) = await RunAsync("node", ["client.js", api.ToString().TrimEnd('/'), step, .. args], CliRun.Timeout);
        Assert.True(exitCode == 0, $"node client.js {step} exited with {exitCode}:\n{output}");
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('{'))
            ?? throw new InvalidOperationException($"node client.js {step} printed no JSON:\n{output}");
        using var document = JsonDocument.Parse(line);
        return document.RootElement.Clone();
    }

    /// <summary>The result of a step that must succeed.</summary>
    public static async Task<JsonElement> OkAsync(Uri api, string step, params string[] args)
    {
        var answer = await StepAsync(api, step, args);
        Assert.True(answer.GetProperty("ok").GetBoolean(), $"the client failed at {step}: {answer}");
        return answer.GetProperty("result");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string tool, string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(tool)
        {
            WorkingDirectory = ProjectDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException(
                $"'{tool}' is required by the Toxiproxy client tests and was not found ({ex.Message}). Install Node.js 18 or later and npm (CI: apt-get install nodejs npm).", ex);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish within {timeout}.");
            }

            return (process.ExitCode, await stdout + await stderr);
        }
    }
}
