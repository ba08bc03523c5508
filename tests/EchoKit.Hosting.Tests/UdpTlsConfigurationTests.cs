using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Tests;

/// <summary>The UdpEndPoints/Udp and TlsEndPoints/Tls keys: binding, errors at start-up, and real echoes over all three transports.</summary>
public sealed class UdpTlsConfigurationTests : IDisposable
{
    /// <summary>The bound on every network wait in these tests.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly TestCertificateFiles _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public void Every_udp_and_tls_key_binds_from_configuration_strings()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServer:UdpEndPoints:0"] = "127.0.0.1:7007",
            ["EchoServer:UdpEndPoints:1"] = "[::1]:0",
            ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:7443",
            ["EchoServer:TlsEndPoints:1"] = "[::]:0",
            ["EchoServer:Udp:MaxDatagramSize"] = "1200",
            ["EchoServer:Udp:DatagramsInFlight"] = "16",
            ["EchoServer:Udp:BlockedSourcePorts:0"] = "19",
            ["EchoServer:Udp:BlockedSourcePorts:1"] = "7",
            ["EchoServer:Udp:PerSourceRateLimit"] = "50",
            ["EchoServer:Udp:MaxTrackedSources"] = "128",
            ["EchoServer:Tls:HandshakeTimeout"] = "00:00:02.5",
            ["EchoServer:Tls:EnabledSslProtocols"] = "Tls12, Tls13",
            ["EchoServer:Tls:ClientCertificateRequired"] = "true",
            ["EchoServer:Tls:Certificate:Path"] = _certificates.Pfx,
            ["EchoServer:Tls:Certificate:Password"] = TestCertificateFiles.Password,
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();

        Assert.Empty(options.EndPoints);
        Assert.Equal<IPEndPoint>([new IPEndPoint(IPAddress.Loopback, 7007), new IPEndPoint(IPAddress.IPv6Loopback, 0)], options.UdpEndPoints);
        Assert.Equal<IPEndPoint>([new IPEndPoint(IPAddress.Loopback, 7443), new IPEndPoint(IPAddress.IPv6Any, 0)], options.TlsEndPoints);
        Assert.Equal((1200, 16, 50, 128), (options.Udp.MaxDatagramSize, options.Udp.DatagramsInFlight, options.Udp.PerSourceRateLimit, options.Udp.MaxTrackedSources));
        Assert.Equal<int>([7, 19], options.Udp.BlockedSourcePorts.Order());
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.Tls.HandshakeTimeout);
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, options.Tls.EnabledSslProtocols);
        Assert.True(options.Tls.ClientCertificateRequired);
        Assert.NotNull(options.Tls.ServerCertificate);
        Assert.Equal(_certificates.Thumbprint, options.Tls.ServerCertificate.GetCertHashString());
        Assert.True(options.Tls.ServerCertificate.HasPrivateKey);
    }

    [Fact]
    public void Udp_and_tls_keys_missing_from_the_section_keep_their_defaults_and_key_names_ignore_case()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["echoserver:udpendpoints:0"] = "127.0.0.1:0",
            ["echoserver:udp:maxdatagramsize"] = "512",
            ["echoserver:tls:clientcertificaterequired"] = "true",
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();
        var defaults = new EchoServerOptions();

        Assert.Equal<IPEndPoint>([new IPEndPoint(IPAddress.Loopback, 0)], options.UdpEndPoints);
        Assert.Empty(options.TlsEndPoints);
        Assert.Equal(512, options.Udp.MaxDatagramSize);
        Assert.True(options.Tls.ClientCertificateRequired);
        Assert.Equal(
            (defaults.Udp.DatagramsInFlight, defaults.Udp.PerSourceRateLimit, defaults.Udp.MaxTrackedSources, defaults.Tls.HandshakeTimeout, defaults.Tls.EnabledSslProtocols),
            (options.Udp.DatagramsInFlight, options.Udp.PerSourceRateLimit, options.Udp.MaxTrackedSources, options.Tls.HandshakeTimeout, options.Tls.EnabledSslProtocols));
        Assert.Equal(UdpEchoOptions.DefaultBlockedSourcePorts, options.Udp.BlockedSourcePorts.Order());
        Assert.Null(options.Tls.ServerCertificate);
    }

    [Theory]
    [InlineData("EchoServer:Udp:BlockedSourcePorts:0", "9999", new[] { 9999 })]
    [InlineData("EchoServer:Udp:BlockedSourcePorts", "7; 19,53", new[] { 7, 19, 53 })]
    [InlineData("EchoServer:Udp:BlockedSourcePorts", "", new int[0])]
    public void A_configured_BlockedSourcePorts_list_replaces_the_defaults(string key, string value, int[] expected)
    {
        var settings = TestHelpers.LoopbackSettings();
        settings[key] = value;
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Equal(expected, provider.Options().Udp.BlockedSourcePorts.Order());
    }

    [Fact]
    public void In_json_an_empty_array_clears_BlockedSourcePorts_an_empty_string_turns_PerSourceRateLimit_off_and_null_is_not_set()
    {
        var builder = JsonBuilder("""
            { "EchoServer": { "UdpEndPoints": [ "127.0.0.1:0" ], "Udp": { "BlockedSourcePorts": [], "PerSourceRateLimit": "" } },
              "Other":      { "UdpEndPoints": [ "127.0.0.1:0" ], "Udp": { "PerSourceRateLimit": null } } }
            """);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        builder.Services.AddEchoServer("other", builder.Configuration.GetSection("Other"));
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.Options();
        Assert.Empty(options.Udp.BlockedSourcePorts);
        Assert.Null(options.Udp.PerSourceRateLimit);

        // .NET configuration reads a JSON null as "not set", as for every other key: the default stays.
        var other = provider.Options("other");
        Assert.Equal(1000, other.Udp.PerSourceRateLimit);
        Assert.Equal(UdpEchoOptions.DefaultBlockedSourcePorts, other.Udp.BlockedSourcePorts.Order());
    }

    [Fact]
    public void A_configured_PerSourceRateLimit_overrides_one_set_in_code_before_and_empty_turns_it_off()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Udp:PerSourceRateLimit"] = "";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(o => o.Udp.PerSourceRateLimit = 5);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Null(provider.Options().Udp.PerSourceRateLimit);
    }

    [Theory]
    [InlineData("Tls13", SslProtocols.Tls13)]
    [InlineData(" tls12 ,TLS13 ", SslProtocols.Tls12 | SslProtocols.Tls13)]
    [InlineData("None", SslProtocols.None)]
    public void EnabledSslProtocols_takes_enum_names_separated_by_commas(string value, SslProtocols expected)
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Tls:EnabledSslProtocols"] = value;
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Equal(expected, provider.Options().Tls.EnabledSslProtocols);
    }

    [Theory]
    [InlineData("UdpEndPoints:0", "not-an-endpoint", "EchoServer:UdpEndPoints:0: 'not-an-endpoint' is not a valid endpoint; write an IP address and port such as 127.0.0.1:7007, [::1]:7007 or 0.0.0.0:0 (port 0 picks a free port).")]
    [InlineData("UdpEndPoints:0", "unix:/tmp/echo.sock", "EchoServer:UdpEndPoints:0: 'unix:/tmp/echo.sock' is not a valid endpoint (UdpEndPoints takes IP endpoints only; Unix domain sockets go in EndPoints)")]
    [InlineData("UdpEndPoints", "127.0.0.1:0;host.example:7", "EchoServer:UdpEndPoints: 'host.example:7' is not a valid endpoint")]
    [InlineData("TlsEndPoints:0", "127.0.0.1", "EchoServer:TlsEndPoints:0: '127.0.0.1' is not a valid endpoint")]
    [InlineData("TlsEndPoints:0", "unix:/tmp/tls.sock", "EchoServer:TlsEndPoints:0: 'unix:/tmp/tls.sock' is not a valid endpoint (TlsEndPoints takes IP endpoints only")]
    [InlineData("Udp:MaxDatagramSize", "64k", "EchoServerOptions.Udp.MaxDatagramSize must be between 1 and 65527 bytes (was 65536).")]
    [InlineData("Udp:MaxDatagramSize", "70000", "EchoServerOptions.Udp.MaxDatagramSize must be between 1 and 65527 bytes (was 70000).")]
    [InlineData("Udp:DatagramsInFlight", "1.5", "EchoServer:Udp:DatagramsInFlight: '1.5' is not a whole number.")]
    [InlineData("Udp:DatagramsInFlight", "0", "EchoServerOptions.Udp.DatagramsInFlight must be between 1 and 256")]
    [InlineData("Udp:MaxTrackedSources", "many", "EchoServer:Udp:MaxTrackedSources: 'many' is not a whole number.")]
    [InlineData("Udp:PerSourceRateLimit", "lots", "EchoServer:Udp:PerSourceRateLimit: 'lots' is not a whole number, or off to turn it off.")]
    [InlineData("Udp:PerSourceRateLimit", "0", "EchoServerOptions.Udp.PerSourceRateLimit must be greater than 0, or null to turn it off (was 0).")]
    [InlineData("Udp:BlockedSourcePorts:1", "chargen", "EchoServer:Udp:BlockedSourcePorts:1: 'chargen' is not a whole number.")]
    [InlineData("Udp:BlockedSourcePorts", "7;x", "EchoServer:Udp:BlockedSourcePorts: 'x' is not a whole number.")]
    [InlineData("Udp:BlockedSourcePorts:0", "70000", "EchoServerOptions.Udp.BlockedSourcePorts must contain only ports from 0 to 65535 (was 70000).")]
    [InlineData("Tls:HandshakeTimeout", "10d", "EchoServer:Tls:HandshakeTimeout: '10d' is not a time span; write 30s, 5m, 1.5s, 250ms or 00:05:00 (a bare number is seconds).")]
    [InlineData("Tls:HandshakeTimeout", "", "EchoServer:Tls:HandshakeTimeout: '' is not a time span")]
    [InlineData("Tls:HandshakeTimeout", "00:00:00", "EchoServerOptions.Tls.HandshakeTimeout must be greater than zero")]
    [InlineData("Tls:EnabledSslProtocols", "Tls14", "EchoServer:Tls:EnabledSslProtocols: 'Tls14' is not TLS protocol names separated by commas, such as Tls12, Tls13, or None to let the operating system choose.")]
    [InlineData("Tls:EnabledSslProtocols", "12288", "EchoServer:Tls:EnabledSslProtocols: '12288' is not TLS protocol names")]
    [InlineData("Tls:EnabledSslProtocols", "Tls12,", "EchoServer:Tls:EnabledSslProtocols: 'Tls12,' is not TLS protocol names")]
    [InlineData("Tls:ClientCertificateRequired", "yes", "EchoServer:Tls:ClientCertificateRequired: 'yes' is not true or false.")]
    public async Task An_invalid_udp_or_tls_value_fails_the_host_start_with_a_message_naming_the_key(string key, string value, string expected)
    {
        var settings = TestHelpers.LoopbackSettings();
        settings[$"EchoServer:{key}"] = value;
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal(Options.DefaultName, ex.OptionsName);
    }

    [Fact]
    public async Task An_unreadable_BlockedSourcePorts_item_leaves_the_whole_list_as_it_was()
    {
        var settings = TestHelpers.LoopbackSettings();
        settings["EchoServer:Udp:BlockedSourcePorts:0"] = "9999";
        settings["EchoServer:Udp:BlockedSourcePorts:1"] = "x";
        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        builder.Services.AddSingleton<IValidateOptions<EchoServerOptions>>(new ReadOnlyObserver(o => Assert.Equal(UdpEchoOptions.DefaultBlockedSourcePorts, o.Udp.BlockedSourcePorts.Order())));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Equal(["EchoServer:Udp:BlockedSourcePorts:1: 'x' is not a whole number."], ex.Failures);
    }

    [Fact]
    public async Task TlsEndPoints_without_a_certificate_fail_the_start_naming_the_certificate_key()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0" });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains("EchoServerOptions.Tls.ServerCertificate is required when TlsEndPoints is not empty", ex.Message, StringComparison.Ordinal);
        Assert.Contains(
            "EchoServer:Tls:Certificate:Path: a server certificate is required because TlsEndPoints is not empty; set it to a .pfx file",
            ex.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_set_in_code_satisfies_TlsEndPoints_from_configuration()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?> { ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0" });
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(_certificates.Pfx, TestCertificateFiles.Password);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"), o => o.Tls.ServerCertificate = certificate);

        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();

        var payload = TestHelpers.RandomBytes(1000, seed: 7);
        Assert.Equal(payload, await _certificates.TlsEchoAsync(TlsEndPoint(server), payload, Wait));
        await host.StopAsync().WaitAsync(Wait);
    }

    public enum CertificateProblem
    {
        MissingFile,
        MissingKeyFile,
        WrongPassword,
        NoPassword,
        NoPrivateKey,
        PemWithoutKey,
        EncryptedPemKeyWithoutPassword,
        NotACertificate,
        KeyPathWithoutPath,
    }

    [Theory]
    [InlineData(CertificateProblem.MissingFile, "EchoServer:Tls:Certificate:Path: the file '{dir}/missing.pfx' does not exist.")]
    [InlineData(CertificateProblem.MissingKeyFile, "EchoServer:Tls:Certificate:KeyPath: the file '{dir}/missing.key.pem' does not exist.")]
    [InlineData(CertificateProblem.WrongPassword, "EchoServer:Tls:Certificate:Path: cannot load '{dir}/server.pfx' as a PKCS#12 (.pfx) file with the configured Password (is it the right one?): ")]
    [InlineData(CertificateProblem.NoPassword, "EchoServer:Tls:Certificate:Path: cannot load '{dir}/server.pfx' as a PKCS#12 (.pfx) file without a password (set Password if the file has one): ")]
    [InlineData(CertificateProblem.NoPrivateKey, "EchoServer:Tls:Certificate:Path: the certificate in '{dir}/nokey.pfx' (CN=localhost, thumbprint {thumbprint}) has no private key;")]
    [InlineData(CertificateProblem.PemWithoutKey, "EchoServer:Tls:Certificate:Path: cannot load the PEM certificate '{dir}/server.crt.pem' (with its key in the same file, as no KeyPath is set) without a password (set Password if the key is encrypted): ")]
    [InlineData(CertificateProblem.EncryptedPemKeyWithoutPassword, "EchoServer:Tls:Certificate:Path: cannot load the PEM certificate '{dir}/server.crt.pem' with the key '{dir}/server.key.encrypted.pem' without a password, but the key is encrypted: set Password: ")]
    [InlineData(CertificateProblem.NotACertificate, "EchoServer:Tls:Certificate:Path: cannot load '{dir}/garbage.bin' as a PKCS#12 (.pfx) file")]
    [InlineData(CertificateProblem.KeyPathWithoutPath, "EchoServer:Tls:Certificate:Path: the certificate file (a .pfx file, or a PEM certificate) is required when KeyPath or Password is set.")]
    public async Task A_certificate_that_cannot_be_used_fails_the_start_naming_the_key_and_the_reason(CertificateProblem problem, string expected)
    {
        var settings = new Dictionary<string, string?> { ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0" };
        var directory = _certificates.Directory;
        switch (problem)
        {
            case CertificateProblem.MissingFile:
                settings["EchoServer:Tls:Certificate:Path"] = Path.Combine(directory, "missing.pfx");
                break;
            case CertificateProblem.MissingKeyFile:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.CertificatePem;
                settings["EchoServer:Tls:Certificate:KeyPath"] = Path.Combine(directory, "missing.key.pem");
                break;
            case CertificateProblem.WrongPassword:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.Pfx;
                settings["EchoServer:Tls:Certificate:Password"] = "wrong";
                break;
            case CertificateProblem.NoPassword:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.Pfx;
                break;
            case CertificateProblem.NoPrivateKey:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.PfxWithoutKey;
                break;
            case CertificateProblem.PemWithoutKey:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.CertificatePem;
                break;
            case CertificateProblem.EncryptedPemKeyWithoutPassword:
                settings["EchoServer:Tls:Certificate:Path"] = _certificates.CertificatePem;
                settings["EchoServer:Tls:Certificate:KeyPath"] = _certificates.EncryptedKeyPem;
                break;
            case CertificateProblem.NotACertificate:
                File.WriteAllBytes(Path.Combine(directory, "garbage.bin"), [0x30, 0x03, 0x02, 0x01, 0x00, 0xff]);
                settings["EchoServer:Tls:Certificate:Path"] = Path.Combine(directory, "garbage.bin");
                break;
            case CertificateProblem.KeyPathWithoutPath:
                settings["EchoServer:Tls:Certificate:KeyPath"] = _certificates.KeyPem;
                break;
        }

        var builder = TestHelpers.Builder(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        var ex = await TestHelpers.StartFailsAsync<OptionsValidationException>(builder);

        Assert.Contains(
            expected.Replace("{dir}/", directory + Path.DirectorySeparatorChar, StringComparison.Ordinal).Replace("{thumbprint}", _certificates.Thumbprint, StringComparison.Ordinal),
            ex.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(TestCertificateFiles.Password, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("a server certificate is required because", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string?, bool> CertificateForms => new()
    {
        { "server.pfx", null, true },
        { "nopassword.pfx", null, false },
        { "server.crt.pem", "server.key.pem", false },
        { "server.crt.pem", "server.key.encrypted.pem", true },
        { "combined.pem", null, false },
    };

    [Theory]
    [MemberData(nameof(CertificateForms))]
    public async Task Each_certificate_form_loads_relative_to_the_content_root_and_completes_a_real_tls_handshake(string path, string? keyPath, bool withPassword)
    {
        var settings = new Dictionary<string, string?>
        {
            ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0",
            ["EchoServer:Tls:Certificate:Path"] = path,
            ["EchoServer:Tls:Certificate:KeyPath"] = keyPath,
            ["EchoServer:Tls:Certificate:Password"] = withPassword ? TestCertificateFiles.Password : null,
        };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = _certificates.Directory });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();

        var payload = TestHelpers.RandomBytes(20_000, seed: path.Length);
        Assert.Equal(payload, await _certificates.TlsEchoAsync(TlsEndPoint(server), payload, Wait));
        Assert.Equal(1, server.GetStatistics().AcceptedConnections);
        await host.StopAsync().WaitAsync(Wait);
    }

    [Fact]
    public void Without_a_host_environment_a_relative_certificate_path_resolves_against_the_current_directory()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0",
            ["EchoServer:Tls:Certificate:Path"] = Path.GetRelativePath(Directory.GetCurrentDirectory(), _certificates.PfxWithoutPassword),
        }).Build();
        var services = new ServiceCollection();
        services.AddEchoServer(configuration.GetSection("EchoServer"));
        using var provider = services.BuildServiceProvider();

        Assert.Equal(_certificates.Thumbprint, provider.Options().Tls.ServerCertificate?.GetCertHashString());
    }

    [Fact]
    public async Task A_certificate_loaded_from_configuration_is_disposed_with_the_host()
    {
        var builder = TestHelpers.Builder(new Dictionary<string, string?>
        {
            ["EchoServer:TlsEndPoints:0"] = "127.0.0.1:0",
            ["EchoServer:Tls:Certificate:Path"] = _certificates.PfxWithoutPassword,
        });
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
        var host = await TestHelpers.StartAsync(builder);
        var certificate = host.Services.Options().Tls.ServerCertificate;
        Assert.NotNull(certificate);
        Assert.NotEqual(IntPtr.Zero, certificate.Handle);

        await host.StopAsync().WaitAsync(Wait);
        await ((IAsyncDisposable)host).DisposeAsync();

        Assert.Equal(IntPtr.Zero, certificate.Handle);
    }

    /// <summary>
    /// A host configured only from JSON: TCP, UDP and TLS on 127.0.0.1 port 0, the certificate a .pfx relative to the
    /// content root. One echo over each transport, compared byte for byte.
    /// </summary>
    [Fact]
    public async Task A_host_configured_from_json_echoes_over_tcp_udp_and_tls()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = _certificates.Directory });
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            {
              "EchoServer": {
                "EndPoints": [ "127.0.0.1:0" ],
                "UdpEndPoints": [ "127.0.0.1:0" ],
                "TlsEndPoints": [ "127.0.0.1:0" ],
                "Udp": { "MaxDatagramSize": 1500, "BlockedSourcePorts": [ 7, 19 ], "PerSourceRateLimit": 100 },
                "Tls": {
                  "HandshakeTimeout": "00:00:05",
                  "Certificate": { "Path": "server.pfx", "Password": "{{TestCertificateFiles.Password}}" }
                }
              }
            }
            """)));
        builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));

        using var host = await TestHelpers.StartAsync(builder);
        var server = host.Services.GetRequiredService<EchoServer>();
        var tcp = (IPEndPoint)server.Listeners.Single(l => l.Transport == EchoTransport.Tcp).EndPoint;
        var udp = (IPEndPoint)server.Listeners.Single(l => l.Transport == EchoTransport.Udp).EndPoint;
        var tls = TlsEndPoint(server);
        Assert.All([tcp, udp, tls], e => Assert.Equal(IPAddress.Loopback, e.Address));
        Assert.All([tcp, udp, tls], e => Assert.NotEqual(0, e.Port));

        await TestHelpers.AssertEchoesAsync(tcp, length: 10_000);

        var datagram = TestHelpers.RandomBytes(1400, seed: 1);
        Assert.Equal(datagram, await UdpEchoAsync(udp, datagram));

        var payload = TestHelpers.RandomBytes(50_000, seed: 2);
        Assert.Equal(payload, await _certificates.TlsEchoAsync(tls, payload, Wait));

        var statistics = server.GetStatistics();
        Assert.Equal((2, 1, 1), (statistics.AcceptedConnections, statistics.DatagramsReceived, statistics.DatagramsEchoed));
        await host.StopAsync().WaitAsync(Wait);
    }

    private static IPEndPoint TlsEndPoint(EchoServer server) =>
        (IPEndPoint)server.Listeners.Single(l => l.Transport == EchoTransport.Tls).EndPoint;

    private static HostApplicationBuilder JsonBuilder(string json)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)));
        return builder;
    }

    /// <summary>Sends one datagram from a loopback socket and returns the answer.</summary>
    private static async Task<byte[]> UdpEchoAsync(IPEndPoint server, byte[] datagram)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource(Wait);
        await client.SendToAsync(datagram, SocketFlags.None, server, cts.Token);
        var buffer = new byte[UdpEchoOptions.MaxDatagramSizeLimit];
        var received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        Assert.Equal(server, received.RemoteEndPoint);
        return buffer[..received.ReceivedBytes];
    }

    /// <summary>Runs a check on the options as they are validated, and never fails them itself.</summary>
    private sealed class ReadOnlyObserver(Action<EchoServerOptions> check) : IValidateOptions<EchoServerOptions>
    {
        public ValidateOptionsResult Validate(string? name, EchoServerOptions options)
        {
            check(options);
            return ValidateOptionsResult.Skip;
        }
    }
}
