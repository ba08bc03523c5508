using System.Net;
using EchoKit.Shared;

namespace EchoKit.Cli.Tests;

public class ValueParserTests
{
    [Theory]
    [InlineData("5", 5_000)]
    [InlineData("0.5", 500)]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:00:30", 30_000)]
    [InlineData("0", 0)]
    public void Durations_are_seconds_or_have_a_unit(string text, int milliseconds)
    {
        Assert.True(ValueGrammar.TryParseDuration(text, out var value, out var error), error.What);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("5 parsecs")]
    [InlineData("-1")]
    [InlineData("NaN")]
    public void Bad_durations_are_refused_with_a_hint(string text)
    {
        Assert.False(ValueGrammar.TryParseDuration(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error.ForFlag("--idle-timeout", text)));
    }

    [Theory]
    [InlineData("off")]
    [InlineData("None")]
    public void Optional_durations_can_be_turned_off(string text)
    {
        Assert.True(ValueGrammar.Optional<TimeSpan>(ValueGrammar.TryParseDuration)(text, out var value, out _));
        Assert.Null(value);
    }

    [Theory]
    [InlineData("64", 64)]
    [InlineData("4k", 4096)]
    [InlineData("4KiB", 4096)]
    [InlineData("4KB", 4096)]
    [InlineData("1m", 1 << 20)]
    [InlineData("1.5MiB", 3 << 19)]
    [InlineData("2g", 2L << 30)]
    public void Sizes_use_binary_units(string text, long bytes)
    {
        Assert.True(ValueGrammar.TryParseSize(text, out var value, out var error), error.What);
        Assert.Equal(bytes, value);
    }

    [Theory]
    [InlineData(250, "250ms")]
    [InlineData(1_500, "1.5s")]
    [InlineData(30_000, "30s")]
    [InlineData(90_000, "90s")]
    [InlineData(300_000, "5m")]
    [InlineData(7_200_000, "2h")]
    [InlineData(0, "0s")]
    public void Durations_are_written_in_the_shortest_unit_that_reads_back(int milliseconds, string expected)
    {
        var text = ValueGrammar.FormatDuration(TimeSpan.FromMilliseconds(milliseconds));

        Assert.Equal(expected, text);
        Assert.True(ValueGrammar.TryParseDuration(text, out var value, out _));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData(65_536, "64KiB")]
    [InlineData(65_507, "65507")]
    [InlineData(3L << 20, "3MiB")]
    [InlineData(1L << 30, "1GiB")]
    public void Sizes_are_written_in_the_largest_binary_unit_that_divides_them(long bytes, string expected)
    {
        var text = ValueGrammar.FormatSize(bytes);

        Assert.Equal(expected, text);
        Assert.True(ValueGrammar.TryParseSize(text, out var value, out _));
        Assert.Equal(bytes, value);
    }

    [Theory]
    [InlineData("7007", "[::]:7007")]
    [InlineData("*:7007", "[::]:7007")]
    [InlineData("localhost:7007", "127.0.0.1:7007")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    [InlineData("[::1]:7007", "[::1]:7007")]
    [InlineData("0.0.0.0:7", "0.0.0.0:7")]
    public void Listen_endpoints_take_a_port_or_an_address_and_port(string text, string expected)
    {
        Assert.True(ValueGrammar.TryParseEndPoint(text, allowUnix: false, out var value, out var error), error.What);
        Assert.Equal(IPEndPoint.Parse(expected), value);
    }

    [Theory]
    [InlineData("::1")]
    [InlineData("127.0.0.1")]
    [InlineData("host.example:7")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:")]
    public void Bad_listen_endpoints_are_refused(string text) =>
        Assert.False(ValueGrammar.TryParseEndPoint(text, allowUnix: false, out _, out _));

    [Theory]
    [InlineData("127.0.0.1:7007", "127.0.0.1", 7007)]
    [InlineData("[::1]:7", "::1", 7)]
    [InlineData("echo.example.com:7", "echo.example.com", 7)]
    [InlineData("7007", "localhost", 7007)]
    public void Bench_targets_are_host_and_port(string text, string host, int port)
    {
        Assert.True(ValueParsers.TryParseTarget(text, out var target, out var problem), problem);
        Assert.Equal(new BenchTarget(host, port), target);
    }

    [Fact]
    public async Task Localhost_resolves_to_ipv4_loopback()
    {
        var endPoint = await new BenchTarget("localhost", 7).ResolveAsync(CancellationToken.None);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7), endPoint);
    }
}

public class LiveLineTests
{
    [Fact]
    public void On_a_terminal_updates_redraw_one_line_and_messages_go_above_it()
    {
        var writer = new StringWriter();
        var line = new LiveLine(writer, interactive: true, width: 0);

        line.Update("first status, long");
        line.Update("second");
        line.WriteLine("a message");
        line.Finish();

        var text = writer.ToString();
        Assert.Equal(
            "\rfirst status, long" + "\rsecond" + new string(' ', 12) + "\rsecond" + "\r" + new string(' ', 6) + "\r" +
            "a message" + Environment.NewLine + "\rsecond" + Environment.NewLine,
            text);
    }

    [Fact]
    public void When_redirected_every_update_is_a_plain_line()
    {
        var writer = new StringWriter();
        var line = new LiveLine(writer, interactive: false, width: 0);

        line.Update("one");
        line.Update("two");
        line.Finish();

        Assert.Equal($"one{Environment.NewLine}two{Environment.NewLine}", writer.ToString());
    }

    [Fact]
    public void On_a_terminal_a_status_longer_than_the_width_is_cut()
    {
        var writer = new StringWriter();
        var line = new LiveLine(writer, interactive: true, width: 10);

        line.Update("0123456789abcdef");

        Assert.Equal("\r012345678", writer.ToString());
    }
}
