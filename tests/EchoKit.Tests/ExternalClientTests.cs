using System.Diagnostics;

namespace EchoKit.Tests;

/// <summary>Clients no one here wrote: Debian's socat and nc. `.ci/run` installs them; elsewhere the tests skip.</summary>
public class ExternalClientTests
{
    [SkippableTheory]
    [InlineData("socat", "-t 10 - TCP:{0}:{1}")]
    [InlineData("nc", "-N -w 10 {0} {1}")]
    public async Task A_plain_tcp_client_gets_every_byte_back(string tool, string argumentFormat)
    {
        var path = FindOnPath(tool);
        Skip.If(path is null, $"{tool} is not installed (apt-get install {tool})");
        await using var server = await TestHelpers.StartAsync();
        var endPoint = server.EndPoint();
        var payload = TestHelpers.RandomBytes(1024 * 1024, seed: 862);

        var start = new ProcessStartInfo(path!, string.Format(System.Globalization.CultureInfo.InvariantCulture, argumentFormat, endPoint.Address, endPoint.Port))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        var output = new MemoryStream();
        var reading = process.StandardOutput.BaseStream.CopyToAsync(output, cts.Token);
        await process.StandardInput.BaseStream.WriteAsync(payload, cts.Token);
        process.StandardInput.Close();
        await reading;
        await process.WaitForExitAsync(cts.Token);

        Assert.True(process.ExitCode == 0, $"{tool} exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync(cts.Token)}");
        Assert.Equal(payload.Length, output.Length);
        Assert.True(payload.AsSpan().SequenceEqual(output.ToArray()), $"{tool} got different bytes back");
        await TestHelpers.WaitUntilAsync(() => server.GetStatistics() is { ActiveConnections: 0, BytesSent: 1024 * 1024 }, "the connection to end");
        await server.AssertPoolsReturnedAsync();
    }

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
}
