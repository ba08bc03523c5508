using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Hosting;

/// <summary>
/// Loads a TLS server certificate with its private key from files, the way Kestrel does and as the
/// <c>Tls:Certificate</c> configuration keys and the <c>echokit serve --tls-cert</c> flag do: a PKCS#12 (.pfx) file
/// (with its password), or a PEM certificate with its PEM key (with the key's password when it is encrypted); a PEM
/// certificate without a key file must hold the key too. Never throws for a bad file: a failure comes back as the
/// file it is about and a reason that says which file, read as what, and whether a password was used.
/// </summary>
public static class EchoServerCertificateLoader
{
    /// <summary>Loads the certificate of <paramref name="path"/> (and <paramref name="keyPath"/>).</summary>
    /// <param name="path">The certificate file (.pfx/.p12, or PEM), resolved to a full path by the caller.</param>
    /// <param name="keyPath">The PEM key file, resolved to a full path, or <see langword="null"/> for none.</param>
    /// <param name="password">The .pfx password or the PEM key's password, or <see langword="null"/> for none.</param>
    /// <param name="certificate">The certificate with its private key, owned by the caller; <see langword="null"/> on failure.</param>
    /// <param name="failedFile">On failure, the file the reason is about; <see cref="EchoServerCertificateFile.Certificate"/> on success.</param>
    /// <param name="failureReason">On failure, why, without a final period (to follow the caller's name for the file); <see langword="null"/> on success.</param>
    /// <returns>Whether the certificate was loaded, with its private key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is <see langword="null"/>.</exception>
    public static bool TryLoad(
        string path,
        string? keyPath,
        string? password,
        [NotNullWhen(true)] out X509Certificate2? certificate,
        out EchoServerCertificateFile failedFile,
        [NotNullWhen(false)] out string? failureReason)
    {
        ArgumentNullException.ThrowIfNull(path);
        certificate = null;
        failedFile = EchoServerCertificateFile.Certificate;
        failureReason = null;
        if (!File.Exists(path))
        {
            failureReason = $"the file '{path}' does not exist";
            return false;
        }

        if (keyPath is not null && !File.Exists(keyPath))
        {
            failedFile = EchoServerCertificateFile.Key;
            failureReason = $"the file '{keyPath}' does not exist";
            return false;
        }

        X509Certificate2 loaded;
        var pem = keyPath is not null || IsPem(path);
        try
        {
            loaded = pem ? LoadPem(path, keyPath, password) : X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // Never a bare CryptographicException: say which file, read as what, and whether a password was used.
            var what = pem
                ? $"cannot load the PEM certificate '{path}'" + (keyPath is null ? " (with its key in the same file, as no KeyPath is set)" : $" with the key '{keyPath}'")
                : $"cannot load '{path}' as a PKCS#12 (.pfx) file";
            var withPassword = password is not null ? "with the configured Password (is it the right one?)"
                : pem && ContainsEncryptedKey(keyPath ?? path) ? "without a password, but the key is encrypted: set Password"
                : pem ? "without a password (set Password if the key is encrypted)"
                : "without a password (set Password if the file has one)";
            failureReason = $"{what} {withPassword}: {ex.Message.TrimEnd('.')}";
            return false;
        }

        if (!HasPrivateKey(loaded))
        {
            failureReason = $"the certificate in '{path}' ({loaded.Subject}, thumbprint {loaded.Thumbprint}) has no private key; use a .pfx file that includes it, or a PEM certificate with its key in KeyPath";
            loaded.Dispose();
            return false;
        }

        certificate = loaded;
        return true;
    }

    /// <summary>PEM is text with a <c>-----BEGIN</c> line; PKCS#12 is binary DER. Only the start of the file is read.</summary>
    private static bool IsPem(string path)
    {
        try
        {
            Span<byte> start = stackalloc byte[4096];
            using var file = File.OpenRead(path);
            var read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
            return start[..read].IndexOf("-----BEGIN"u8) >= 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Let the PKCS#12 load report the problem with the file.
            return false;
        }
    }

    private static bool ContainsEncryptedKey(string path)
    {
        try
        {
            return File.ReadAllText(path).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static X509Certificate2 LoadPem(string path, string? keyPath, string? password)
    {
        using var pem = password is null
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);

        // A PEM key is ephemeral, which SslStream cannot use on Windows; a PKCS#12 round trip gives it a key set
        // that works everywhere (the same as the echokit tool and Kestrel do).
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }

    private static bool HasPrivateKey(X509Certificate2 certificate)
    {
        try
        {
            return certificate.HasPrivateKey;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
