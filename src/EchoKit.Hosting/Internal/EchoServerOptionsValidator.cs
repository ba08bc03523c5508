namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered echo server (see <see cref="HostedOptionsValidator{TOptions}"/>), naming the
/// certificate key when a TLS endpoint has no certificate.
/// </summary>
internal sealed class EchoServerOptionsValidator(EchoServerRegistry registry)
    : HostedOptionsValidator<EchoServerOptions>(registry, "Echo server")
{
    protected override void ValidateRules(EchoServerOptions options) => options.Validate();

    protected override void Explain(EchoServerOptions options, List<string> failures)
    {
        failures.AddRange(BindingProblems.GetHints(options));

        // The options' rule names Tls.ServerCertificate, which is not a configuration key: name the key that sets it.
        if (options.TlsEndPoints.Count > 0 && options.Tls is { ServerCertificate: null, ServerCertificateSelector: null }
            && EchoServerConfigurationBinder.GetCertificatePathKey(options) is { } certificateKey)
        {
            failures.Add(
                $"{certificateKey}: a server certificate is required because TlsEndPoints is not empty; set it to a .pfx file " +
                "(with Tls:Certificate:Password if it has one) or to a PEM certificate with Tls:Certificate:KeyPath.");
        }
    }
}
