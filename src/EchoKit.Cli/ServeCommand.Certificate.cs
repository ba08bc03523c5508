using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EchoKit.Hosting;

namespace EchoKit.Cli;

/// <summary>The TLS server certificate of <c>echokit serve</c>: from <c>--tls-cert</c> (and <c>--tls-key</c>), or self-signed.</summary>
internal sealed partial class ServeCommand
{
    private const string PasswordVariable = "ECHOKIT_TLS_CERT_PASSWORD";

    /// <summary>
    /// The certificate the TLS flags ask for, owned by the caller; none when they ask for none. Returns a usage
    /// problem to report (flags that do not go together, a file that does not load, <c>--tls</c> without a
    /// certificate), or <see langword="null"/>.
    /// </summary>
    private string? ReadCertificate(ParseResult parseResult, out X509Certificate2? certificate)
    {
        certificate = null;
        if (parseResult.GetValue(_tlsSelfSigned) && parseResult.GetValue(_tlsCert) is not null)
        {
            return "--tls-self-signed and --tls-cert cannot be combined.";
        }

        if (parseResult.GetValue(_tlsKey) is not null && parseResult.GetValue(_tlsCert) is null)
        {
            return "--tls-key needs --tls-cert.";
        }

        if (!TryLoadCertificate(parseResult, out certificate, out var certificateProblem))
        {
            return $"cannot load the TLS certificate: {certificateProblem}";
        }

        if (parseResult.GetValue(FlagOf(nameof(EchoServerOptions.TlsEndPoints))) is { Count: > 0 } && certificate is null)
        {
            return "--tls needs a certificate: --tls-cert FILE (with --tls-cert-password or --tls-key when needed) or --tls-self-signed.";
        }

        return null;
    }

    /// <summary>The certificate of --tls-cert (and --tls-key), or a self-signed one; none when neither is given.</summary>
    private bool TryLoadCertificate(ParseResult parseResult, out X509Certificate2? certificate, out string? problem)
    {
        certificate = null;
        problem = null;
        if (parseResult.GetValue(_tlsSelfSigned))
        {
            certificate = CreateSelfSigned();
            return true;
        }

        if (parseResult.GetValue(_tlsCert) is not { } certPath)
        {
            return true;
        }

        // The same loader as the Tls:Certificate configuration keys, so both report a bad file the same way.
        var keyPath = parseResult.GetValue(_tlsKey);
        var password = parseResult.GetValue(_tlsCertPassword) ?? Environment.GetEnvironmentVariable(PasswordVariable);
        if (EchoServerCertificateLoader.TryLoad(Path.GetFullPath(certPath), keyPath is null ? null : Path.GetFullPath(keyPath), password, out var loaded, out var failedFile, out var reason))
        {
            certificate = loaded;
            return true;
        }

        problem = $"{(failedFile == EchoServerCertificateFile.Key ? "--tls-key" : "--tls-cert")}: {reason}";
        return false;
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        return Persisted(certificate);
    }

    /// <summary>A copy whose key lives in a PKCS#12 import, as SslStream on Windows needs (harmless elsewhere).</summary>
    private static X509Certificate2 Persisted(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
}
