using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Tests;

/// <summary>Self-signed certificates made in the test with <see cref="CertificateRequest"/>, and TLS clients that trust exactly them.</summary>
internal static class TlsTestHelpers
{
    private static readonly Lazy<X509Certificate2> LazyServerCertificate = new(() => Create("CN=localhost", server: true));
    private static readonly Lazy<X509Certificate2> LazyClientCertificate = new(() => Create("CN=echokit-test-client", server: false));
    private static readonly Lazy<X509Certificate2> LazyOtherClientCertificate = new(() => Create("CN=echokit-stranger", server: false));

    public static X509Certificate2 ServerCertificate => LazyServerCertificate.Value;

    /// <summary>The client certificate the server's validation accepts.</summary>
    public static X509Certificate2 ClientCertificate => LazyClientCertificate.Value;

    /// <summary>A client certificate the server's validation rejects.</summary>
    public static X509Certificate2 OtherClientCertificate => LazyOtherClientCertificate.Value;

    public static EchoServerOptions TlsOptions(Action<EchoServerOptions>? configure = null)
    {
        var options = new EchoServerOptions { TlsEndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
        options.Tls.ServerCertificate = ServerCertificate;
        configure?.Invoke(options);
        return options;
    }

    public static IPEndPoint TlsEndPoint(this EchoServer server) =>
        (IPEndPoint)server.Listeners.First(l => l.Transport == EchoTransport.Tls).EndPoint;

    /// <summary>Connects, completes the handshake (trusting only <see cref="ServerCertificate"/>) and returns the stream and its socket.</summary>
    public static async Task<(SslStream Stream, Socket Socket)> ConnectAsync(IPEndPoint endPoint, X509Certificate2? clientCertificate = null)
    {
        var socket = await TestHelpers.ConnectAsync(endPoint);
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            using var cts = new CancellationTokenSource(TestHelpers.Timeout);
            await stream.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == ServerCertificate.GetCertHashString(),
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                },
                cts.Token);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }

        return (stream, socket);
    }

    public static async Task WriteAllAsync(this SslStream stream, ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        await stream.WriteAsync(data, cts.Token);
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws (end of stream or timeout).</summary>
    public static async Task ReadExactlyWithinAsync(this SslStream stream, Memory<byte> buffer)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        await stream.ReadExactlyAsync(buffer, cts.Token);
    }

    /// <summary>Reads until the server ends the stream (close_notify or FIN); returns everything read.</summary>
    public static async Task<byte[]> ReadToEndAsync(this SslStream stream)
    {
        using var cts = new CancellationTokenSource(TestHelpers.Timeout);
        using var all = new MemoryStream();
        await stream.CopyToAsync(all, cts.Token);
        return all.ToArray();
    }

    private static X509Certificate2 Create(string subject, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        // Through PKCS#12, so the private key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null);
    }
}

/// <summary>An <see cref="System.Diagnostics.Metrics.IMeterFactory"/> whose meters are private to one test.</summary>
internal sealed class TransportMeterFactory : System.Diagnostics.Metrics.IMeterFactory
{
    private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

    public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
    {
        var meter = new System.Diagnostics.Metrics.Meter(new System.Diagnostics.Metrics.MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            _meters.ForEach(m => m.Dispose());
        }
    }
}
