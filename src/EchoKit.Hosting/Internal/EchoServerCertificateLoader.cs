using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Loads the TLS server certificate named by the <c>Tls:Certificate</c> keys, the way Kestrel does: <c>Path</c>
/// (+ <c>Password</c>) for a PKCS#12 (.pfx) file, or <c>Path</c> + <c>KeyPath</c> (+ <c>Password</c> for an encrypted
/// key) for PEM files; a PEM <c>Path</c> without <c>KeyPath</c> must hold the key too. Never throws: a failure comes
/// back as a reason to report against the key.
/// </summary>
internal static class EchoServerCertificateLoader
{
    /// <summary>Which key a failure is about, and why.</summary>
    internal readonly record struct Failure(string Key, string Reason);

    /// <param name="path">The certificate file, already resolved to a full path.</param>
    /// <param name="keyPath">The PEM key file, already resolved to a full path, or <see langword="null"/>.</param>
    /// <param name="password">The .pfx password or the PEM key's password, or <see langword="null"/>.</param>
    /// <param name="certificate">The certificate with its private key.</param>
    /// <param name="failure">Set when it cannot be loaded.</param>
    public static bool TryLoad(string path, string? keyPath, string? password, [NotNullWhen(true)] out X509Certificate2? certificate, out Failure failure)
    {
        certificate = null;
        failure = default;
        if (!File.Exists(path))
        {
            failure = new("Path", $"the file '{path}' does not exist");
            return false;
        }

        if (keyPath is not null && !File.Exists(keyPath))
        {
            failure = new("KeyPath", $"the file '{keyPath}' does not exist");
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
            failure = new("Path", $"{what} {withPassword}: {ex.Message.TrimEnd('.')}");
            return false;
        }

        if (!HasPrivateKey(loaded))
        {
            failure = new("Path", $"the certificate in '{path}' ({loaded.Subject}, thumbprint {loaded.Thumbprint}) has no private key; use a .pfx file that includes it, or a PEM certificate with its key in KeyPath");
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
