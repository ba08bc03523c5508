using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Hosting.Tests;

/// <summary>
/// A self-signed server certificate made with <see cref="CertificateRequest"/> and written, in a temporary directory
/// deleted on dispose, in every form the <c>Tls:Certificate</c> keys read: .pfx with and without a password, PEM
/// certificate with a plain or an encrypted key, PEM certificate and key in one file, and a .pfx without the key.
/// </summary>
internal sealed class TestCertificateFiles : IDisposable
{
    public const string Password = "s3cret-Pa55";

    public TestCertificateFiles()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("echokit-certs-").FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Thumbprint = certificate.GetCertHashString();

        File.WriteAllBytes(Pfx, certificate.Export(X509ContentType.Pkcs12, Password));
        File.WriteAllBytes(PfxWithoutPassword, certificate.Export(X509ContentType.Pkcs12));
        using (var publicOnly = X509CertificateLoader.LoadCertificate(certificate.RawData))
        {
            File.WriteAllBytes(PfxWithoutKey, publicOnly.Export(X509ContentType.Pkcs12));
        }

        var certificatePem = certificate.ExportCertificatePem();
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        File.WriteAllText(CertificatePem, certificatePem);
        File.WriteAllText(KeyPem, keyPem);
        File.WriteAllText(
            EncryptedKeyPem,
            key.ExportEncryptedPkcs8PrivateKeyPem(Password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1_000)));
        File.WriteAllText(CombinedPem, certificatePem + "\n" + keyPem);
    }

    public string Directory { get; }

    /// <summary>The certificate's SHA-1 hash, which the test clients trust and nothing else.</summary>
    public string Thumbprint { get; }

    /// <summary>PKCS#12 protected by <see cref="Password"/>.</summary>
    public string Pfx => Path.Combine(Directory, "server.pfx");

    public string PfxWithoutPassword => Path.Combine(Directory, "nopassword.pfx");

    public string PfxWithoutKey => Path.Combine(Directory, "nokey.pfx");

    public string CertificatePem => Path.Combine(Directory, "server.crt.pem");

    public string KeyPem => Path.Combine(Directory, "server.key.pem");

    /// <summary>The PEM key encrypted with <see cref="Password"/>.</summary>
    public string EncryptedKeyPem => Path.Combine(Directory, "server.key.encrypted.pem");

    /// <summary>Certificate and key in one PEM file.</summary>
    public string CombinedPem => Path.Combine(Directory, "combined.pem");

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    /// <summary>A real TLS round trip on <paramref name="endPoint"/>, trusting only this certificate; returns what came back.</summary>
    public async Task<byte[]> TlsEchoAsync(IPEndPoint endPoint, byte[] payload, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        await using var stream = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        await stream.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == Thumbprint,
            },
            cts.Token);
        await stream.WriteAsync(payload, cts.Token);
        var echoed = new byte[payload.Length];
        await stream.ReadExactlyAsync(echoed, cts.Token);
        return echoed;
    }
}
