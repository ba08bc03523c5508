using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using EchoKit.LoadGenerator;

namespace EchoKit.Cli;

/// <summary>What <c>echokit bench</c> was asked to do, after parsing and resolving the target.</summary>
internal sealed record BenchSettings(
    BenchTarget Target,
    IPEndPoint EndPoint,
    bool Udp,
    int Connections,
    int MessageSize,
    int InFlight,
    TimeSpan Duration,
    TimeSpan Warmup,
    TimeSpan ConnectTimeout,
    TimeSpan LossTimeout,
    double? MaxLossPercent)
{
    /// <summary><c>--greeting</c>: each connection reads the server's greeting line first.</summary>
    public bool ReadGreeting { get; init; }

    /// <summary><c>--proxy-protocol</c>: each connection sends a PROXY header first.</summary>
    public ProxyHeaderVersion ProxyHeader { get; init; }

    /// <summary><c>--reconnect</c>: a connection the server ends is opened again; what it lost counts as failed echoes.</summary>
    public bool Reconnect { get; init; }

    /// <summary><c>--connect-per-echo</c>: each echo on a new connection.</summary>
    public bool ConnectPerEcho { get; init; }

    /// <summary><c>--rate</c>: messages per second, all connections together; <see langword="null"/> for a closed model.</summary>
    public int? Rate { get; init; }

    /// <summary>The load's shape in one word, as the JSON report names it.</summary>
    public string Mode => Udp ? "udp" : ConnectPerEcho ? "connect-per-echo" : Reconnect ? "reconnect" : "pipelined";

    public string Transport => Udp ? "udp" : "tcp";

    /// <summary>"connection(s)" for TCP, "flow(s)" for UDP.</summary>
    public string Streams => Udp ? "flow(s)" : "connection(s)";

    public string Describe()
    {
        var resolved = IPAddress.TryParse(Target.Host, out _) ? "" : $" ({EndPoint})";
        var per = Udp ? "flow" : "connection";
        return $"{Target}{resolved} over {Transport.ToUpperInvariant()}: {Formatting.Count(Connections)} {Streams}, " +
            $"{Formatting.Count(MessageSize)}-byte {(Udp ? "datagrams" : "messages")}, " +
            (ConnectPerEcho ? "a new connection per echo, " : $"{Formatting.Count(InFlight)} in flight per {per}, ") +
            (Rate is { } rate ? $"{Formatting.Count(rate)} msgs/s constant rate, " : "") +
            (Reconnect ? "reconnecting, " : "") +
            Formatting.Seconds(Duration) +
            (Warmup > TimeSpan.Zero ? $" after a {Formatting.Seconds(Warmup)} warm-up" : " with no warm-up") +
            (Udp ? $", {Formatting.Seconds(LossTimeout)} loss timeout" : "") +
            (ProxyHeader != ProxyHeaderVersion.None ? $", PROXY {ProxyHeader.ToString().ToLowerInvariant()} header first" : "") +
            (ReadGreeting ? ", greeting read first" : "");
    }
}

/// <summary>The UDP-only part of a result: every datagram sent is echoed, lost, or mismatched.</summary>
internal sealed record UdpCounts(long Sent, long Lost, double LossPercent, long OutOfWindow);

/// <summary>A TCP or UDP load result in one shape, for the report and the exit code.</summary>
internal sealed record BenchOutcome(
    long Messages,
    long Bytes,
    TimeSpan Elapsed,
    LatencySummary Latency,
    int ConnectionsOpened,
    long Verified,
    long Mismatches,
    long Errors,
    string? FirstError,
    UdpCounts? Udp)
{
    /// <summary>With <c>--greeting</c>: opened connections per distinct greeting; null otherwise.</summary>
    public IReadOnlyDictionary<string, int>? Greetings { get; init; }

    /// <summary>The latency from the minimum to the maximum (<see cref="LatencyHistogram.SpectrumPercentiles"/>).</summary>
    public IReadOnlyList<LatencyPercentile> Spectrum { get; init; } = [];

    /// <summary>With <c>--reconnect</c>: messages lost on connections the server ended.</summary>
    public long FailedEchoes { get; init; }

    /// <summary>With <c>--reconnect</c>: connections opened again.</summary>
    public long Reconnections { get; init; }

    /// <summary>With <c>--reconnect</c>: connection attempts that failed and were retried.</summary>
    public long FailedConnects { get; init; }

    public double MessagesPerSecond => Elapsed > TimeSpan.Zero ? Messages / Elapsed.TotalSeconds : 0;

    public double MiBPerSecond => Elapsed > TimeSpan.Zero ? Bytes / 1048576.0 / Elapsed.TotalSeconds : 0;

    public static BenchOutcome From(EchoLoadResult r, bool readGreeting) => new(
        r.Messages, r.Bytes, r.Elapsed, r.Latency, r.ConnectionsOpened, r.MessagesVerified, r.Mismatches, r.Errors, r.FirstError, null)
    {
        Greetings = readGreeting ? r.Greetings : null,
        Spectrum = r.LatencySpectrum,
        FailedEchoes = r.FailedEchoes,
        Reconnections = r.Reconnections,
        FailedConnects = r.FailedConnects,
    };

    public static BenchOutcome From(UdpEchoLoadResult r) => new(
        r.Messages, r.Bytes, r.Elapsed, r.Latency, r.FlowsOpened, r.MessagesVerified, r.Mismatches, r.Errors, r.FirstError,
        new UdpCounts(r.DatagramsSent, r.DatagramsLost, r.LossPercent, r.OutOfWindow))
    {
        Spectrum = r.LatencySpectrum,
    };

    /// <summary>A connect-per-echo run: each connection is one message; each failed attempt one failed echo.</summary>
    public static BenchOutcome From(ChurnResult r, int messageSize) => new(
        r.Connections, r.Connections * messageSize, r.Elapsed, r.Latency, (int)Math.Min(r.ConnectionsVerified, int.MaxValue),
        r.ConnectionsVerified, r.Mismatches, r.Errors, r.FirstError, null)
    {
        Spectrum = r.LatencySpectrum,
        FailedEchoes = r.Errors,
    };

    /// <summary>Why the run failed (the exit code is then 1), or <see langword="null"/> when it passed.</summary>
    public string? FailureReason(BenchSettings settings)
    {
        if (ConnectionsOpened == 0)
        {
            return $"could not open any {(settings.Udp ? "UDP flow" : "connection")} to {settings.EndPoint}: {FirstError}";
        }

        if (settings.Udp && Errors >= ConnectionsOpened && Verified == 0 && Mismatches == 0)
        {
            return $"every flow failed; first error: {FirstError}";
        }

        if (FailedEchoes > 0 && !settings.ConnectPerEcho)
        {
            return $"{Formatting.Count(FailedEchoes)} failed echo(es): messages sent on connections the server closed or reset before echoing them";
        }

        if (Errors > 0 || Mismatches > 0)
        {
            return $"{Formatting.Count(Errors)} error(s), {Formatting.Count(Mismatches)} mismatched message(s); first error: {FirstError ?? "none"}";
        }

        if (Messages == 0)
        {
            return Udp is { } udp
                ? $"nothing was echoed: no datagram came back during the measurement ({Formatting.Count(udp.Sent)} sent, {Formatting.Count(udp.Lost)} lost)"
                : "no message was echoed during the measurement";
        }

        if (Udp is { } counts && settings.MaxLossPercent is { } maxLoss && counts.LossPercent > maxLoss)
        {
            return $"{BenchReport.Percent(counts.LossPercent)} of the datagrams were lost, more than --max-loss {BenchReport.Percent(maxLoss)}";
        }

        return null;
    }
}

/// <summary>The text and JSON reports of <c>echokit bench</c>.</summary>
internal static class BenchReport
{
    public static string Percent(double value) => string.Create(CultureInfo.InvariantCulture, $"{value:0.###} %");

    public static string ToText(BenchSettings settings, BenchOutcome result, bool ok)
    {
        var latency = result.Latency;
        var seconds = Math.Max(result.Elapsed.TotalSeconds, 1e-9);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"echokit bench {settings.Describe()}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  messages     {Formatting.Count(result.Messages)} in {result.Elapsed.TotalSeconds:0.00} s: {Formatting.Count((long)result.MessagesPerSecond)} msgs/s");
        text.AppendLine(CultureInfo.InvariantCulture, $"  throughput   {Formatting.MiBPerSecond(result.Bytes / seconds)} each way ({result.Bytes * 8 / 1e6 / seconds:N1} Mbit/s)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  latency      p50 {Formatting.Microseconds(latency.P50)} us | p90 {Formatting.Microseconds(latency.P90)} us | p99 {Formatting.Microseconds(latency.P99)} us | " +
            $"p99.9 {Formatting.Microseconds(latency.P999)} us | mean {Formatting.Microseconds(latency.Mean)} us | max {Formatting.Microseconds(latency.Max)} us");
        if (result.Udp is { } udp)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  datagrams    {Formatting.Count(udp.Sent)} sent, {Formatting.Count(udp.Lost)} lost ({Percent(udp.LossPercent)}), " +
                $"{Formatting.Count(udp.OutOfWindow)} out of window (warm-up and drain included)");
            text.AppendLine(CultureInfo.InvariantCulture, $"  verified     {Formatting.Count(result.Verified)} datagrams byte for byte, {Formatting.Count(result.Mismatches)} mismatched");
            text.AppendLine(CultureInfo.InvariantCulture, $"  flows        {Formatting.Count(result.ConnectionsOpened)} of {Formatting.Count(settings.Connections)} opened");
        }
        else
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  verified     {Formatting.Count(result.Verified)} messages byte for byte (warm-up and drain included), {Formatting.Count(result.Mismatches)} mismatched");
            var opened = settings.ConnectPerEcho
                ? $"{Formatting.Count(result.ConnectionsOpened)} opened, one per echo, {Formatting.Count(settings.Connections)} at a time"
                : $"{Formatting.Count(result.ConnectionsOpened)} of {Formatting.Count(settings.Connections)} opened";
            text.AppendLine(CultureInfo.InvariantCulture, $"  connections  {opened}");
        }

        if (result.Greetings is { } greetings)
        {
            // One row per distinct greeting, most connections first: a balancer's spread at a glance.
            var label = "  greetings    ";
            foreach (var (greeting, count) in greetings.OrderByDescending(g => g.Value).ThenBy(g => g.Key, StringComparer.Ordinal))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{label}{Formatting.Count(count),8} connection(s)  {greeting}");
                label = "               ";
            }

            if (greetings.Count == 0)
            {
                text.AppendLine("  greetings    none read");
            }
        }

        if (settings.Reconnect)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  reconnects   {Formatting.Count(result.Reconnections)} after the server ended a connection, {Formatting.Count(result.FailedConnects)} failed attempt(s) retried; " +
                $"{Formatting.Count(result.FailedEchoes)} failed echo(es)");
        }

        if (settings.Rate is not null)
        {
            text.AppendLine("  (latency from when each message was due: corrected for coordinated omission)");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"  errors       {Formatting.Count(result.Errors)}{(result.FirstError is { } first ? $" (first: {first})" : "")}");
        text.AppendLine(ok ? "PASS" : "FAIL");
        return text.ToString();
    }

    public static string ToJson(BenchSettings settings, BenchOutcome result, bool ok)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("target", settings.Target.ToString());
            writer.WriteString("endPoint", settings.EndPoint.ToString());
            writer.WriteString("transport", settings.Transport);
            writer.WriteNumber("connections", settings.Connections);
            writer.WriteNumber("messageSize", settings.MessageSize);
            writer.WriteString("mode", settings.Mode);
            writer.WriteNumber("messagesInFlight", settings.ConnectPerEcho ? 1 : settings.InFlight);
            WriteNumberOrNull(writer, "rateMessagesPerSecond", settings.Rate);
            writer.WriteNumber("durationSeconds", settings.Duration.TotalSeconds);
            writer.WriteNumber("warmupSeconds", settings.Warmup.TotalSeconds);
            if (settings.Udp)
            {
                writer.WriteNumber("lossTimeoutSeconds", settings.LossTimeout.TotalSeconds);
                WriteNumberOrNull(writer, "maxLossPercent", settings.MaxLossPercent);
            }

            writer.WriteNumber("elapsedSeconds", Math.Round(result.Elapsed.TotalSeconds, 6));
            writer.WriteNumber("connectionsOpened", result.ConnectionsOpened);
            writer.WriteNumber("messages", result.Messages);
            writer.WriteNumber("bytes", result.Bytes);
            writer.WriteNumber("messagesPerSecond", Math.Round(result.MessagesPerSecond, 3));
            writer.WriteNumber("mebibytesPerSecond", Math.Round(result.MiBPerSecond, 3));
            writer.WriteStartObject("latencyMicroseconds");
            writer.WriteNumber("p50", Math.Round(result.Latency.P50, 3));
            writer.WriteNumber("p90", Math.Round(result.Latency.P90, 3));
            writer.WriteNumber("p99", Math.Round(result.Latency.P99, 3));
            writer.WriteNumber("p999", Math.Round(result.Latency.P999, 3));
            writer.WriteNumber("mean", Math.Round(result.Latency.Mean, 3));
            writer.WriteNumber("max", Math.Round(result.Latency.Max, 3));
            writer.WriteNumber("count", result.Latency.Count);
            writer.WriteBoolean("correctedForCoordinatedOmission", settings.Rate is not null);
            writer.WriteEndObject();
            writer.WriteStartArray("latencySpectrumMicroseconds");
            foreach (var point in result.Spectrum)
            {
                writer.WriteStartObject();
                writer.WriteNumber("percentile", point.Percentile);
                writer.WriteNumber("microseconds", Math.Round(point.Microseconds, 3));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteNumber("messagesVerified", result.Verified);
            if (result.Udp is { } udp)
            {
                writer.WriteNumber("datagramsSent", udp.Sent);
                writer.WriteNumber("datagramsLost", udp.Lost);
                writer.WriteNumber("lossPercent", Math.Round(udp.LossPercent, 4));
                writer.WriteNumber("outOfWindow", udp.OutOfWindow);
            }

            if (result.Greetings is { } greetings)
            {
                writer.WriteStartObject("greetings");
                foreach (var (greeting, count) in greetings.OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    writer.WriteNumber(greeting, count);
                }

                writer.WriteEndObject();
            }

            if (settings.Reconnect || settings.ConnectPerEcho)
            {
                writer.WriteNumber("failedEchoes", result.FailedEchoes);
            }

            if (settings.Reconnect)
            {
                writer.WriteNumber("reconnections", result.Reconnections);
                writer.WriteNumber("failedConnects", result.FailedConnects);
            }

            writer.WriteNumber("mismatches", result.Mismatches);
            writer.WriteNumber("errors", result.Errors);
            if (result.FirstError is { } firstError)
            {
                writer.WriteString("firstError", firstError);
            }
            else
            {
                writer.WriteNull("firstError");
            }

            writer.WriteBoolean("ok", ok);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } number)
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
