using System.Globalization;
using System.Text.RegularExpressions;

namespace EchoKit.Cli.Tests;

/// <summary>The live counters of the <c>echokit bench</c> progress display, in a log and on a terminal.</summary>
public partial class BenchProgressTests
{
    [Theory]
    [InlineData("tcp")]
    [InlineData("udp")]
    public async Task Redirected_progress_lines_carry_live_rates_and_totals_while_measuring(string transport)
    {
        await using var server = await UdpBenchTests.StartUdpServerAsync(rateLimit: null);
        using var serve = transport == "tcp" ? CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet") : null;
        var target = serve is null ? server.UdpEndPoint : await serve.WaitForListenerAsync();
        string[] args = ["bench", target, "-d", "1500ms", "-w", "0", "-c", "2", "-s", "1k", "--progress-interval", "200ms"];

        var (exitCode, output, error) = await CliRun.RunAsync(transport == "udp" ? [.. args, "--udp"] : args);

        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstdout:\n{output}\nstderr:\n{error}");
        var lines = MeasuringLine().Matches(error.ReplaceLineEndings("\n"));
        Assert.True(lines.Count >= 3, $"expected a progress line every 200 ms while measuring:\n{error}");
        long previousTotal = 0;
        double fastest = 0, mostMiB = 0;
        foreach (Match line in lines)
        {
            fastest = Math.Max(fastest, ParseCount(line.Groups["rate"].Value));
            mostMiB = Math.Max(mostMiB, double.Parse(line.Groups["mib"].Value, CultureInfo.InvariantCulture));
            var total = ParseCount(line.Groups["total"].Value);
            Assert.True(total > 0 && total >= previousTotal, line.Value);
            previousTotal = total;
            Assert.Equal(transport == "udp", line.Groups["lost"].Success);
            Assert.Equal("0", line.Groups["errors"].Value);
        }

        // Rates are over the last interval: on a loaded 2-core machine one interval may see few echoes, not all of them.
        Assert.True(fastest > 0, error);
        Assert.True(mostMiB > 0, error);

        if (serve is not null)
        {
            Assert.Equal(0, await serve.StopAsync());
        }
    }

    [Fact]
    public async Task On_a_terminal_one_progress_line_is_redrawn_in_place_with_live_counters()
    {
        using var serve = CliRun.Start("serve", "--tcp", "127.0.0.1:0", "--quiet");
        var target = await serve.WaitForListenerAsync();

        using var bench = CliRun.StartOnTerminal("bench", target, "-d", "1", "-w", "300ms", "--progress-interval", "100ms");
        var exitCode = await bench.Completion.WaitAsync(CliRun.Timeout);

        var error = bench.Error.Text;
        Assert.True(exitCode == 0, $"bench exited with {exitCode}\nstderr:\n{error}");
        Assert.DoesNotContain('\n', error);   // every update went over the same line, erased at the end
        Assert.Matches(@"\rwarming up [\d.]+ m?s of 300 ms \| [\d,]+ msgs/s \| [\d.]+ MiB/s \| [\d,]+ echoed \| 0 errors", error);
        Assert.Matches(@"\rmeasuring \[[#.]{20}\] [\d.]+ m?s of 1 s \| [1-9][\d,]* msgs/s \| [\d.]+ MiB/s \| [1-9][\d,]* echoed \| 0 errors", error);
        Assert.EndsWith("PASS" + Environment.NewLine, bench.Output.Text, StringComparison.Ordinal);
        Assert.Equal(0, await serve.StopAsync());
    }

    private static long ParseCount(string text) => long.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^bench: measuring, [\d.]+ m?s of 1\.5 s: (?<rate>[\d,]+) msgs/s, (?<mib>[\d.]+) MiB/s, (?<total>[\d,]+) echoed(, (?<lost>[\d,]+) lost)?, (?<errors>[\d,]+) errors$", RegexOptions.Multiline)]
    private static partial Regex MeasuringLine();
}
