using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit;

/// <summary>
/// Settings for the TLS listeners of an <see cref="EchoServer"/> (<see cref="EchoServerOptions.TlsEndPoints"/>).
/// A TLS connection is otherwise served like a TCP one: the same limits, timeouts, events and memory bound.
/// </summary>
public sealed class TlsEchoOptions
{
    /// <summary>
    /// The server's certificate, with its private key. Required when <see cref="EchoServerOptions.TlsEndPoints"/> is
    /// not empty, unless <see cref="ServerCertificateSelector"/> is set. The server does not dispose it.
    /// Defaults to <see langword="null"/>.
    /// </summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Picks the certificate for each connection from the host name the client asked for (SNI); when set it is used
    /// instead of <see cref="ServerCertificate"/>. Called during each handshake, so it should be fast.
    /// Defaults to <see langword="null"/>.
    /// </summary>
    public ServerCertificateSelectionCallback? ServerCertificateSelector { get; set; }

    /// <summary>
    /// The TLS versions allowed; <see cref="SslProtocols.None"/> lets the operating system choose (TLS 1.2 and 1.3 on
    /// current systems), which is the recommended setting. Defaults to <see cref="SslProtocols.None"/>.
    /// </summary>
    public SslProtocols EnabledSslProtocols { get; set; } = SslProtocols.None;

    /// <summary>
    /// Whether a client must present a certificate; a handshake without one, or with one that fails
    /// validation, fails (<see cref="ConnectionCloseReason.TlsHandshakeFailed"/>). Defaults to <see langword="false"/>.
    /// </summary>
    public bool ClientCertificateRequired { get; set; }

    /// <summary>
    /// Validates the client's certificate (for example against a test CA); <see langword="null"/> uses the system's
    /// validation, which needs a chain to a trusted root. Defaults to <see langword="null"/>.
    /// </summary>
    public RemoteCertificateValidationCallback? ClientCertificateValidation { get; set; }

    /// <summary>
    /// How long a client has, from connecting, to complete the TLS handshake; then the connection is closed
    /// (<see cref="ConnectionCloseReason.TlsHandshakeFailed"/>), so clients that connect and send nothing cannot
    /// hold connections. Defaults to 10 seconds.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Adjusts the <see cref="SslServerAuthenticationOptions"/> built from these settings before the server starts
    /// (for example ALPN protocols, a cipher suite policy or revocation checking); the same instance is then used
    /// for every handshake. Defaults to <see langword="null"/>.
    /// </summary>
    public Action<SslServerAuthenticationOptions>? ConfigureAuthentication { get; set; }

    internal void CopyFrom(TlsEchoOptions source)
    {
        ServerCertificate = source.ServerCertificate;
        ServerCertificateSelector = source.ServerCertificateSelector;
        EnabledSslProtocols = source.EnabledSslProtocols;
        ClientCertificateRequired = source.ClientCertificateRequired;
        ClientCertificateValidation = source.ClientCertificateValidation;
        HandshakeTimeout = source.HandshakeTimeout;
        ConfigureAuthentication = source.ConfigureAuthentication;
    }

    internal void AddValidationErrors(Action<string, string> fail, bool tlsInUse)
    {
        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout.TotalMilliseconds > int.MaxValue)
        {
            fail("Tls.HandshakeTimeout", $"must be greater than zero and at most {TimeSpan.FromMilliseconds(int.MaxValue)} (was {HandshakeTimeout})");
        }

        if (!tlsInUse)
        {
            return;
        }

        if (ServerCertificate is null && ServerCertificateSelector is null)
        {
            fail("Tls.ServerCertificate", "is required when TlsEndPoints is not empty (or set Tls.ServerCertificateSelector)");
        }
        else if (ServerCertificate is { } certificate && ServerCertificateSelector is null && !HasPrivateKey(certificate))
        {
            fail("Tls.ServerCertificate", $"must have a private key (was {certificate.Subject}, thumbprint {certificate.Thumbprint})");
        }
    }

    /// <summary>Builds the options used for every handshake; called once, when the server starts.</summary>
    internal SslServerAuthenticationOptions CreateAuthenticationOptions()
    {
        var options = new SslServerAuthenticationOptions
        {
            // A context builds the certificate's chain once, instead of on every handshake.
            ServerCertificateContext = ServerCertificateSelector is null && ServerCertificate is { } certificate
                ? SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true)
                : null,
            ServerCertificateSelectionCallback = ServerCertificateSelector,
            EnabledSslProtocols = EnabledSslProtocols,
            ClientCertificateRequired = ClientCertificateRequired,
            RemoteCertificateValidationCallback = ClientCertificateValidation,
        };
        ConfigureAuthentication?.Invoke(options);
        return options;
    }

    private static bool HasPrivateKey(X509Certificate2 certificate)
    {
        try
        {
            return certificate.HasPrivateKey;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            // A disposed certificate cannot tell.
            return false;
        }
    }
}
