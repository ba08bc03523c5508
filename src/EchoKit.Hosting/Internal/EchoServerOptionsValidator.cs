using EchoKit.Shared;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered echo server: the configuration values that could not be read,
/// then <see cref="EchoServerOptions.Validate"/>. Runs when the host starts (ValidateOnStart) and whenever the
/// options are built.
/// </summary>
internal sealed class EchoServerOptionsValidator(EchoServerRegistry registry) : IValidateOptions<EchoServerOptions>
{
    public ValidateOptionsResult Validate(string? name, EchoServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        name ??= Options.DefaultName;
        if (!registry.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>(EchoServerConfigurationBinder.GetErrors(options));
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            failures.Add(EchoServerOptionDescription.RuleOf(ex));
        }

        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        failures.AddRange(EchoServerConfigurationBinder.GetHints(options));

        // The options' rule names Tls.ServerCertificate, which is not a configuration key: name the key that sets it.
        if (options.TlsEndPoints.Count > 0 && options.Tls is { ServerCertificate: null, ServerCertificateSelector: null }
            && EchoServerConfigurationBinder.GetCertificatePathKey(options) is { } certificateKey)
        {
            failures.Add(
                $"{certificateKey}: a server certificate is required because TlsEndPoints is not empty; set it to a .pfx file " +
                "(with Tls:Certificate:Password if it has one) or to a PEM certificate with Tls:Certificate:KeyPath.");
        }

        return ValidateOptionsResult.Fail(name.Length == 0 ? failures : failures.Select(f => $"Echo server '{name}': {f}"));
    }
}
