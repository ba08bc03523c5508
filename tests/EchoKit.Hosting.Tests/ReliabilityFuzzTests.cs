using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CsCheck;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace EchoKit.Hosting.Tests;

/// <summary>
/// Property-based fuzzing (CsCheck) of the inputs EchoKit parses: options bound from configuration, and options set
/// in code. Random strings and values for every key must give either valid options or a validation error that names
/// the key, never another exception type or a crash. On failure CsCheck prints the shrunk input and the seed that
/// reproduces it (pass it as <c>seed:</c>, or set the <c>CsCheck_Seed</c> environment variable).
/// See docs/RELIABILITY.md, scenario 8.
/// </summary>
public class ReliabilityFuzzTests(ITestOutputHelper output)
{
    private const int ConfigurationIterations = 2_000;
    private const int CodeIterations = 1_000;

    /// <summary>Every key the binder reads: one per option (from the catalog the binder is built from), and the certificate's.</summary>
    private static readonly string[] Keys =
        [.. EchoKit.Shared.EchoServerOptionCatalog.All.Select(d => d.Key), "Tls:Certificate:Path", "Tls:Certificate:KeyPath", "Tls:Certificate:Password"];

    /// <summary>A configuration key: every option (in any case), endpoint array items, nested children, unknown keys.</summary>
    private static readonly Gen<string> GenKey = Gen.Frequency(
        (10, Gen.OneOf(Keys)),
        (2, Gen.OneOf(Keys).Select(k => k.ToUpperInvariant())),
        (2, Gen.OneOf(Keys).Select(k => k.ToLowerInvariant())),
        (4, Gen.Int[0, 5].Select(i => $"EndPoints:{i}")),
        (2, Gen.Int[0, 2].Select(i => $"UdpEndPoints:{i}")),
        (2, Gen.Int[0, 2].Select(i => $"TlsEndPoints:{i}")),
        (2, Gen.Int[0, 3].Select(i => $"Udp:BlockedSourcePorts:{i}")),
        (1, Gen.Select(Gen.OneOf(Keys), Gen.String[0, 8], (k, child) => $"{k}:{child}")),
        (1, Gen.String[1, 20]));

    private static readonly Gen<string> GenNumber = Gen.Frequency(
        (3, Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Long.Select(l => l.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Int[-10, 70_000].Select(i => i.ToString(CultureInfo.InvariantCulture))),
        (1, Gen.Double.Select(d => d.ToString(CultureInfo.InvariantCulture))),
        (1, Gen.OneOf("0", "-0", "+1", "1e3", "0x10", "1_000", "1,000", " 42 ", "99999999999999999999999", "NaN", "∞", "٣")));

    private static readonly Gen<string> GenTimeSpan = Gen.Frequency(
        (3, Gen.TimeSpan.Select(t => t.ToString("c", CultureInfo.InvariantCulture))),
        (2, Gen.Select(Gen.Int[-30, 100], Gen.Int[-5, 70], Gen.Int[-5, 70], (h, m, s) => $"{h:00}:{m:00}:{s:00}")),
        (1, Gen.OneOf("00:00:00", "-00:00:01", "00:00:00.0000001", "24855.03:14:07.647", "24855.03:14:07.648", "10675199.02:48:05.4775807", "-10675199.02:48:05.4775808", "1.00:00", "30", "00:00:30 ", "abc", ":", "1:2:3:4:5")),
        (1, Gen.OneOf("30s", "1.5s", "250ms", "5m", "5min", "1h", "0.5", "off", "NONE", "1e400s", "-5s", "5 parsecs", "∞s")));

    private static readonly Gen<string> GenEndPoint = Gen.Frequency(
        (3, Gen.Select(Gen.Int[0, 300], Gen.Int[0, 300], Gen.Int[0, 300], Gen.Int[0, 300], Gen.Int[-2, 70_000], (a, b, c, d, p) => $"{a}.{b}.{c}.{d}:{p}")),
        (2, Gen.Select(Gen.OneOf("::1", "::", "fe80::1%1", "::ffff:127.0.0.1", "1:2:3:4:5:6:7:8:9", "zz::1"), Gen.Int[-2, 70_000], (a, p) => $"[{a}]:{p}")),
        (2, Gen.String[0, 200].Select(path => "unix:" + path)),
        (1, Gen.OneOf("127.0.0.1", "127.0.0.1:", ":80", "[::1]", "::1:7007", "localhost:7007", "unix:", "UNIX:/tmp/x", "127.0.0.1:7007;[::1]:7007", ";;;", "1.2.3.4:5:6")));

    /// <summary>A value: random text, numbers, time spans, booleans, endpoints, empty, whitespace, long text, or null.</summary>
    private static readonly Gen<string?> GenValue = Gen.Frequency(
        (4, Gen.String.Select(s => (string?)s)),
        (1, Gen.Char['\0', '\u001f'].Array[0, 10].Select(chars => (string?)new string(chars))),
        (4, GenNumber.Select(s => (string?)s)),
        (4, GenTimeSpan.Select(s => (string?)s)),
        (2, Gen.OneOf("true", "false", "True", "FALSE", "yes", "1", "0", "on").Select(s => (string?)s)),
        (4, GenEndPoint.Select(s => (string?)s)),
        (1, Gen.OneOf("", " ", "\t", "\n", "\u00a0").Select(s => (string?)s)),
        (1, Gen.Int[1_000, 20_000].Select(n => (string?)new string('9', n))),
        (1, Gen.Const((string?)null)));

    /// <summary>
    /// A plausible value for <paramref name="key"/>, so that valid configurations come up often too; certificate keys
    /// name real files among <paramref name="certificates"/> (or none).
    /// </summary>
    private static Gen<string?> GenPlausibleValue(string key, TestCertificateFiles certificates) => WithoutIndex(key).ToUpperInvariant() switch
    {
        "ENDPOINTS" => Gen.OneOf<string?>("127.0.0.1:0", "[::1]:0", " 127.0.0.1:0 ", "127.0.0.1:0;[::1]:0", "unix:/tmp/echokit-fuzz.sock"),
        "UDPENDPOINTS" or "TLSENDPOINTS" => Gen.OneOf<string?>("127.0.0.1:0", "[::1]:0", "127.0.0.1:0;[::1]:0", "unix:/tmp/echokit-fuzz.sock"),
        "UDP:MAXDATAGRAMSIZE" => Gen.Int[1, 65_527].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)),
        "UDP:DATAGRAMSINFLIGHT" => Gen.Int[1, 256].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)),
        "UDP:MAXTRACKEDSOURCES" => Gen.Int[1, 1 << 20].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)),
        "UDP:BLOCKEDSOURCEPORTS" => Gen.Frequency((1, Gen.OneOf<string?>("", "7;19", "0, 53")), (3, Gen.Int[0, 65_535].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)))),
        "UDP:PERSOURCERATELIMIT" =>
            Gen.Frequency((1, Gen.Const((string?)string.Empty)), (3, Gen.Int[1, 1_000_000].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)))),
        "TLS:HANDSHAKETIMEOUT" => Gen.Int[1, 600].Select(sec => (string?)TimeSpan.FromSeconds(sec).ToString("c", CultureInfo.InvariantCulture)),
        "TLS:ENABLEDSSLPROTOCOLS" => Gen.OneOf<string?>("None", "Tls12", "Tls13", "Tls12, Tls13", "tls13"),
        "TLS:CLIENTCERTIFICATEREQUIRED" => Gen.OneOf<string?>("true", "false"),
        "TLS:CERTIFICATE:PATH" => Gen.OneOf<string?>(certificates.PfxWithoutPassword, certificates.CombinedPem, certificates.Pfx, "missing.pfx", ""),
        "TLS:CERTIFICATE:KEYPATH" => Gen.OneOf<string?>(certificates.KeyPem, certificates.EncryptedKeyPem, "missing.pem", ""),
        "TLS:CERTIFICATE:PASSWORD" => Gen.OneOf<string?>(TestCertificateFiles.Password, "wrong", ""),
        "DUALMODE" or "WAITFORDATABEFOREALLOCATINGBUFFER" or "NODELAY" or "KEEPALIVE" => Gen.OneOf<string?>("true", "false", "True", "False"),
        "BACKLOG" or "MAXCONNECTIONS" => Gen.Int[1, 100_000].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)),
        "RECEIVEBUFFERSIZE" => Gen.Int[64, 1 << 24].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)),
        "MAXBYTESPERCONNECTION" or "MAXCONNECTIONSPERADDRESS" or "MAXCONNECTIONRATE" =>
            Gen.Frequency((1, Gen.Const((string?)string.Empty)), (3, Gen.Int[1, 1_000_000].Select(i => (string?)i.ToString(CultureInfo.InvariantCulture)))),
        "IDLETIMEOUT" or "SENDTIMEOUT" or "MAXCONNECTIONLIFETIME" =>
            Gen.Frequency((1, Gen.Const((string?)string.Empty)), (3, Gen.Int[1, 86_400].Select(sec => (string?)TimeSpan.FromSeconds(sec).ToString("c", CultureInfo.InvariantCulture)))),
        "SHUTDOWNTIMEOUT" => Gen.Int[0, 86_400].Select(sec => (string?)TimeSpan.FromSeconds(sec).ToString("c", CultureInfo.InvariantCulture)),
        _ => GenValue,
    };

    /// <summary>The key without a trailing array index: <c>EndPoints:3</c> is <c>EndPoints</c>.</summary>
    private static string WithoutIndex(string key)
    {
        var last = key.LastIndexOf(':');
        return last > 0 && int.TryParse(key.AsSpan(last + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _) ? key[..last] : key;
    }

    /// <summary>A server name, then settings: half the time on top of a valid endpoint, then 0–10 random keys.</summary>
    private static Gen<(string Name, KeyValuePair<string, string?>[] Settings)> GenConfiguration(TestCertificateFiles certificates)
    {
        var genSetting = GenKey.SelectMany(key =>
            Gen.Frequency((3, GenPlausibleValue(key, certificates)), (2, GenValue)).Select(value => KeyValuePair.Create<string, string?>(key, value)));
        return Gen.Select(
            Gen.OneOf(string.Empty, "fuzz"),
            Gen.Bool,
            genSetting.Array[0, 10],
            (name, withEndPoint, settings) => (name, withEndPoint ? [KeyValuePair.Create("EndPoints:0", (string?)"127.0.0.1:0"), .. settings] : settings));
    }

    /// <summary>
    /// 2,000 random configurations through the public AddEchoServer(IConfiguration) path, validated as the host does
    /// (IOptionsMonitor.Get and ValidateOnStart's IStartupValidator): either the options are valid and an EchoServer
    /// is built from them, or OptionsValidationException is thrown and every failure names its key. Nothing else.
    /// </summary>
    [Fact]
    public void Random_configuration_gives_valid_options_or_a_validation_error_naming_the_key()
    {
        long valid = 0, invalid = 0, failures = 0;
        using var certificates = new TestCertificateFiles();
        GenConfiguration(certificates).Sample(
            input =>
            {
                // Configuration keys ignore case, and a key given twice keeps its last value.
                var settings = input.Settings
                    .GroupBy(p => "EchoServer:" + p.Key, StringComparer.OrdinalIgnoreCase)
                    .Select(g => KeyValuePair.Create(g.Key, g.Last().Value));
                var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
                var services = new ServiceCollection();
                services.AddEchoServer(input.Name, configuration.GetSection("EchoServer"));
                using var provider = services.BuildServiceProvider();

                EchoServerOptions options;
                try
                {
                    options = provider.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(input.Name);
                }
                catch (OptionsValidationException ex)
                {
                    Interlocked.Increment(ref invalid);
                    Interlocked.Add(ref failures, ex.Failures.Count());
                    AssertNamesKeys(ex, input.Name);

                    // ValidateOnStart (what the host's StartAsync runs) fails the same way.
                    var startup = Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IStartupValidator>().Validate());
                    Assert.True(
                        startup is OptionsValidationException || (startup is AggregateException a && a.InnerExceptions.All(e => e is OptionsValidationException)),
                        $"ValidateOnStart threw {startup.GetType().Name}: {startup.Message}");
                    return;
                }

                Interlocked.Increment(ref valid);
                provider.GetRequiredService<IStartupValidator>().Validate();
                var server = new EchoServer(options);
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            },
            iter: ConfigurationIterations,
            print: input => $"name '{input.Name}': {string.Join("; ", input.Settings.Select(p => $"{p.Key}={(p.Value is null ? "null" : Escape(p.Value))}"))}");

        output.WriteLine($"FIGURE fuzz-configuration: {ConfigurationIterations} random configurations: {valid} valid (server built), {invalid} rejected with OptionsValidationException ({failures} failures, each naming its key), 0 other exceptions");
        Assert.Equal(ConfigurationIterations, valid + invalid);
    }

    /// <summary>
    /// 1,000 random option sets assigned in code: the EchoServer constructor either accepts them or throws
    /// ArgumentException whose ParamName is the option and whose message names it. Accepted ones (with their endpoints
    /// replaced by 127.0.0.1:0) are started, echo one message, and are disposed.
    /// </summary>
    [Fact]
    public void Random_options_in_code_give_a_working_server_or_an_ArgumentException_naming_the_option()
    {
        var genOptions = Gen.Select(
            Gen.Select(Plausible(Gen.Int[1, 4096]), Plausible(Gen.Int[1, 100_000]), Plausible(Gen.Int[64, 1 << 20]), Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool, (backlog, max, buffer, dual, wait, noDelay, keepAlive) => (backlog, max, buffer, dual, wait, noDelay, keepAlive)),
            Gen.Select(GenOptionalTimeSpan(), GenOptionalTimeSpan(), GenOptionalTimeSpan(), GenTimeSpanValue(), (idle, send, lifetime, shutdown) => (idle, send, lifetime, shutdown)),
            Gen.Select(PlausibleOptional(Gen.Long[1, long.MaxValue], Gen.Long), PlausibleOptional(Gen.Int[1, 1000], Gen.Int), PlausibleOptional(Gen.Int[1, 100_000], Gen.Int), Gen.Frequency((6, Gen.Const(1)), (1, Gen.Int[0, 4])), (bytes, perAddress, rate, endPoints) => (bytes, perAddress, rate, endPoints)),
            (a, b, c) => (a, b, c));

        long accepted = 0, rejected = 0;
        var rejectedNames = new ConcurrentDictionary<string, int>();
        genOptions.Sample(
            input =>
            {
                var ((backlog, max, buffer, dual, wait, noDelay, keepAlive), (idle, send, lifetime, shutdown), (bytes, perAddress, rate, endPoints)) = input;
                var options = new EchoServerOptions
                {
                    Backlog = backlog,
                    MaxConnections = max,
                    ReceiveBufferSize = buffer,
                    DualMode = dual,
                    WaitForDataBeforeAllocatingBuffer = wait,
                    NoDelay = noDelay,
                    KeepAlive = keepAlive,
                    IdleTimeout = idle,
                    SendTimeout = send,
                    MaxConnectionLifetime = lifetime,
                    ShutdownTimeout = shutdown,
                    MaxBytesPerConnection = bytes,
                    MaxConnectionsPerAddress = perAddress,
                    MaxConnectionRate = rate,
                };
                switch (endPoints)
                {
                    case 0:
                        break;
                    case 1:
                        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
                        break;
                    case 2:
                        options.EndPoints.Add(null!);
                        break;
                    case 3:
                        options.EndPoints.Add(new DnsEndPoint("localhost", 7007));
                        break;
                    default:
                        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007));
                        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7007));
                        break;
                }

                EchoServer server;
                try
                {
                    server = new EchoServer(options);
                }
                catch (ArgumentException ex)
                {
                    Interlocked.Increment(ref rejected);
                    Assert.NotNull(ex.ParamName);
                    Assert.Contains(ex.ParamName, Keys);
                    Assert.Contains($"EchoServerOptions.{ex.ParamName} ", ex.Message, StringComparison.Ordinal);
                    rejectedNames.AddOrUpdate(ex.ParamName, 1, (_, n) => n + 1);
                    return;
                }

                Interlocked.Increment(ref accepted);
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
                if (endPoints == 1)
                {
                    StartAndEchoOnce(options);
                }
            },
            iter: CodeIterations,
            threads: 1);

        output.WriteLine($"FIGURE fuzz-code: {CodeIterations} random option sets: {accepted} accepted (those on 127.0.0.1:0 started, echoed and stopped), {rejected} rejected with ArgumentException naming the option ({string.Join(", ", rejectedNames.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}), 0 other exceptions");
        Assert.Equal(CodeIterations, accepted + rejected);
        Assert.True(accepted > 0, "no random option set was valid; the generator is too hostile to test the accepting path");
    }

    /// <summary>Mostly a valid value, sometimes any value of the type.</summary>
    private static Gen<int> Plausible(Gen<int> valid) => Gen.Frequency((9, valid), (1, Gen.Int));

    private static Gen<T?> PlausibleOptional<T>(Gen<T> valid, Gen<T> any)
        where T : struct => Gen.Frequency((3, Gen.Const((T?)null)), (6, valid.Select(v => (T?)v)), (1, any.Select(v => (T?)v)));

    private static Gen<TimeSpan?> GenOptionalTimeSpan() => Gen.Frequency(
        (3, Gen.Const((TimeSpan?)null)),
        (6, Gen.Int[1, 600_000].Select(ms => (TimeSpan?)TimeSpan.FromMilliseconds(ms))),
        (1, GenTimeSpanValue().Select(t => (TimeSpan?)t)));

    private static Gen<TimeSpan> GenTimeSpanValue() => Gen.Frequency(
        (2, Gen.TimeSpan),
        (6, Gen.Int[0, 60_000].Select(ms => TimeSpan.FromMilliseconds(ms))),
        (1, Gen.Int[-1_000, 0].Select(ms => TimeSpan.FromMilliseconds(ms))),
        (1, Gen.OneOf(TimeSpan.Zero, TimeSpan.MaxValue, TimeSpan.MinValue, TimeSpan.FromMilliseconds(int.MaxValue), TimeSpan.FromMilliseconds(int.MaxValue + 1L), TimeSpan.FromTicks(1))));

    private static void StartAndEchoOnce(EchoServerOptions options)
    {
        // Long limits would keep the test waiting on nothing; bound them. Everything else stays as generated.
        options.ShutdownTimeout = TimeSpan.FromMilliseconds(Math.Min(options.ShutdownTimeout.TotalMilliseconds, 100));
        var server = new EchoServer(options);
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.ReceiveTimeout = client.SendTimeout = 10_000;
            client.Connect(server.EndPoints[0]);
            client.Send("echo"u8);
            var buffer = new byte[4];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = client.Receive(buffer, read, buffer.Length - read, SocketFlags.None);
                if (n == 0)
                {
                    // A valid limit may close at once (MaxBytesPerConnection 1, a MaxConnectionRate bucket): an end of
                    // stream with a prefix of the message is correct behaviour, a wrong byte is not.
                    break;
                }

                read += n;
            }

            Assert.True(buffer.AsSpan(0, read).SequenceEqual("echo"u8[..read]), "the echo differs");
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static void AssertNamesKeys(OptionsValidationException ex, string name)
    {
        Assert.Equal(name, ex.OptionsName);
        Assert.NotEmpty(ex.Failures);
        foreach (var failure in ex.Failures)
        {
            var text = name.Length == 0 ? failure : failure.Replace($"Echo server '{name}': ", string.Empty, StringComparison.Ordinal);
            // Tls.ServerCertificate is set by the Tls:Certificate keys, and then another failure must name one of them.
            if (text.StartsWith("EchoServerOptions.Tls.ServerCertificate ", StringComparison.Ordinal))
            {
                Assert.Contains(ex.Failures, f => f.Contains("EchoServer:Tls:Certificate:", StringComparison.OrdinalIgnoreCase));
                continue;
            }

            // An option's name is its key with dots: Udp:MaxDatagramSize is EchoServerOptions.Udp.MaxDatagramSize.
            Assert.True(
                Keys.Any(k => text.StartsWith($"EchoServer:{k}", StringComparison.OrdinalIgnoreCase) || text.StartsWith($"EchoServerOptions.{k.Replace(':', '.')} ", StringComparison.Ordinal))
                    || text.StartsWith("The configuration section 'EchoServer' is missing or empty", StringComparison.Ordinal)
                    // A random key no option reads (GenKey makes some) is an error naming that key (issue 16).
                    || (text.StartsWith("EchoServer:", StringComparison.Ordinal) && text.Contains(": unknown key", StringComparison.Ordinal)),
                $"a failure names no key: {failure}");
        }
    }

    private static string Escape(string value) =>
        value.Length > 60 ? $"<{value.Length} chars: {Escape(value[..20])}...>" : string.Concat(value.Select(c => char.IsControl(c) || c > '~' ? $"\\u{(int)c:x4}" : c.ToString()));
}
