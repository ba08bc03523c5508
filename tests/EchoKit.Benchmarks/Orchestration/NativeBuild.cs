using System.ComponentModel;
using System.Diagnostics;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>
/// Compiles the C programs in <c>Native/</c> (copied next to the executable by the build) with gcc, once per program per
/// process, into <c>obj/native</c> next to the executable: echoload (<see cref="NativeLoadClient"/>) and echoserve
/// (the <c>c-epoll</c> server, <see cref="ServerProcess"/>).
/// </summary>
internal static class NativeBuild
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Task<string>> Builds = [];

    /// <summary>Where the compiled programs go.</summary>
    private static string OutputDirectory => Path.Combine(AppContext.BaseDirectory, "obj", "native");

    /// <summary>
    /// Compiles <c>Native/<paramref name="sourceName"/></c> the first time it is called for that file; later calls return
    /// the same task, whose result is the executable's path. <paramref name="neededFor"/> names what needs it and
    /// <paramref name="otherwise"/> the way around gcc (for the error message). The task fails with <see cref="InvalidOperationException"/> when the source is missing or gcc is
    /// missing or fails.
    /// </summary>
    public static Task<string> EnsureBuiltAsync(string sourceName, string neededFor, string otherwise)
    {
        lock (Gate)
        {
            if (!Builds.TryGetValue(sourceName, out var build))
            {
                Builds[sourceName] = build = BuildAsync(sourceName, neededFor, otherwise);
            }

            return build;
        }
    }

    private static async Task<string> BuildAsync(string sourceName, string neededFor, string otherwise)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "Native", sourceName);
        if (!File.Exists(source))
        {
            throw new InvalidOperationException($"{neededFor}: {source} is missing (the build copies Native/{sourceName} next to the executable).");
        }

        Directory.CreateDirectory(OutputDirectory);
        var output = Path.Combine(OutputDirectory, Path.GetFileNameWithoutExtension(sourceName));
        var info = new ProcessStartInfo("gcc")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-O2", "-Wall", "-Wextra", "-o", output, source })
        {
            info.ArgumentList.Add(argument);
        }

        Process gcc;
        try
        {
            gcc = Process.Start(info) ?? throw new InvalidOperationException("gcc did not start");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"{neededFor} compiles {sourceName} with gcc, but gcc could not be run ({ex.Message}). Install gcc (e.g. apt-get install gcc) {otherwise}.", ex);
        }

        using (gcc)
        {
            var stdout = gcc.StandardOutput.ReadToEndAsync();
            var stderr = gcc.StandardError.ReadToEndAsync();
            await gcc.WaitForExitAsync();
            var messages = ((await stdout) + (await stderr)).Trim();
            if (gcc.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc failed to compile {source} (exit code {gcc.ExitCode}): {messages}");
            }

            if (messages.Length > 0)
            {
                Console.Error.WriteLine($"gcc warnings for {sourceName}: {messages}");
            }
        }

        return output;
    }
}
