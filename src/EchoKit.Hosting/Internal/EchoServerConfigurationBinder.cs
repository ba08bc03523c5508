using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using EchoKit.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Reads <see cref="EchoServerOptions"/> from configuration with <see cref="ConfigurationValues"/>: without reflection
/// (so it is trim- and AOT-safe) and without throwing. A value that cannot be read is recorded in the options'
/// <see cref="BindingProblems"/>, naming its key, and reported by <see cref="EchoServerOptionsValidator"/> when the
/// options are validated. The keys, and the grammar of their values, are those of <see cref="EchoServerOptionCatalog"/>,
/// which the <c>echokit</c> flags share.
/// </summary>
internal static class EchoServerConfigurationBinder
{
    /// <summary>The section of the server certificate, under the <c>Tls</c> section; Kestrel's name for it.</summary>
    public const string CertificateKey = "Certificate";

    /// <summary>
    /// The options whose <c>Tls:Certificate</c> keys already have an error (with the section's path), so that no
    /// "a certificate is required" note is added about them.
    /// </summary>
    private static readonly ConditionalWeakTable<EchoServerOptions, string> CertificateFailures = new();

    /// <summary>
    /// Binds every key present in <paramref name="configuration"/>; keys not present leave the option as it is. In a
    /// section, a key no option reads is an error (a misspelled key must not be dropped in silence).
    /// </summary>
    /// <param name="configuration">The server's section (or a root).</param>
    /// <param name="options">The options to set.</param>
    /// <param name="services">
    /// Where to find the host's content root (relative certificate paths resolve against it, else against the current
    /// directory) and the owner of loaded certificates; <see langword="null"/> for neither.
    /// </param>
    public static void Bind(IConfiguration configuration, EchoServerOptions options, IServiceProvider? services = null)
    {
        if (!BindingProblems.Start(configuration, options))
        {
            return;
        }

        var errors = BindingProblems.Of(options).Errors;
        foreach (var option in EchoServerOptionCatalog.All)
        {
            if (option.IsList)
            {
                BindList(configuration, option, options, errors);
            }
            else if (ConfigurationValues.TryRead(configuration, option.Key, Reader(option), errors, out var value))
            {
                option.Apply(options, [value]);
            }
        }

        BindCertificate(configuration.GetSection($"{nameof(EchoServerOptions.Tls)}:{CertificateKey}"), options.Tls, options, services);

        // A root holds the host's other settings (Logging, environment variables), so only a section is checked.
        if (configuration is IConfigurationSection)
        {
            errors.AddRange(ConfigurationKeyCheck.FindUnknownKeys(configuration));
        }
    }

    /// <summary>
    /// The full key of the server certificate's path (such as <c>EchoServer:Tls:Certificate:Path</c>) when
    /// <paramref name="options"/> were bound from configuration and no certificate key there had a problem already;
    /// otherwise <see langword="null"/>.
    /// </summary>
    public static string? GetCertificatePathKey(EchoServerOptions options) =>
        CertificateFailures.TryGetValue(options, out _)
            ? null
            : BindingProblems.GetKey(options, $"{nameof(EchoServerOptions.Tls)}:{CertificateKey}:Path");

    /// <summary>
    /// Binds an array, or one string separated by <c>;</c> or <c>,</c> (for environment variables and command lines:
    /// <c>"127.0.0.1:7007;[::1]:7007"</c>). An empty list (<c>[]</c> in JSON, an empty string, or <c>none</c>) is a
    /// list too: it clears a list that replaces its defaults. When any item cannot be read, nothing is set.
    /// </summary>
    private static void BindList(IConfiguration configuration, EchoServerOptionDescription option, EchoServerOptions options, List<string> errors)
    {
        var section = configuration.GetSection(option.Key);
        if (section.Value is null && !section.GetChildren().Any() && !IsPresent(configuration, option.Key))
        {
            return;
        }

        if (ConfigurationValues.TryReadList(section, option.SplitList, Reader(option), $" ({option.ValueName})", errors, out var values))
        {
            option.Apply(options, values);
        }
    }

    /// <summary>Reads a value as configuration writes it (the catalog reads flags too, in their own words).</summary>
    private static ConfigurationValueReader Reader(EchoServerOptionDescription option) =>
        (string text, out object? value, out ValueError error) => option.TryRead(text, OptionSource.Configuration, out value, out error);

    /// <summary>
    /// Whether <paramref name="key"/> is there even without a value: an empty JSON array reaches configuration as a
    /// key with a null value and no children, which <c>Exists()</c> calls missing.
    /// </summary>
    private static bool IsPresent(IConfiguration configuration, string key)
    {
        var lastColon = key.LastIndexOf(':');
        var parent = lastColon < 0 ? configuration : configuration.GetSection(key[..lastColon]);
        var name = key[(lastColon + 1)..];
        return parent.GetChildren().Any(c => string.Equals(c.Key, name, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// <c>Path</c> (+ <c>Password</c>) for a .pfx file, or <c>Path</c> + <c>KeyPath</c> (+ <c>Password</c>) for PEM,
    /// as in Kestrel. An empty or absent <c>Path</c> loads nothing and leaves the certificate as it is.
    /// </summary>
    private static void BindCertificate(IConfigurationSection certificate, TlsEchoOptions target, EchoServerOptions options, IServiceProvider? services)
    {
        var path = certificate["Path"];
        var keyPath = certificate["KeyPath"];
        var password = certificate["Password"];
        if (string.IsNullOrWhiteSpace(path))
        {
            if (!string.IsNullOrWhiteSpace(keyPath) || !string.IsNullOrEmpty(password))
            {
                Fail("Path", "the certificate file (a .pfx file, or a PEM certificate) is required when KeyPath or Password is set.");
            }

            return;
        }

        // Relative paths resolve against the host's content root, as Kestrel's do; without a host, the current directory.
        var root = services?.GetService<IHostEnvironment>()?.ContentRootPath;
        if (!TryGetFullPath(path, root, out var fullPath))
        {
            Fail("Path", $"'{path}' is not a valid file path.");
            return;
        }

        string? fullKeyPath = null;
        if (!string.IsNullOrWhiteSpace(keyPath) && !TryGetFullPath(keyPath, root, out fullKeyPath))
        {
            Fail("KeyPath", $"'{keyPath}' is not a valid file path.");
            return;
        }

        // An empty password is as good as none (an environment variable set to nothing).
        if (!EchoServerCertificateLoader.TryLoad(fullPath, fullKeyPath, string.IsNullOrEmpty(password) ? null : password, out var loaded, out var failedFile, out var reason))
        {
            Fail(failedFile == EchoServerCertificateFile.Key ? "KeyPath" : "Path", reason + ".");
            return;
        }

        services?.GetService<LoadedCertificates>()?.Add(loaded);
        target.ServerCertificate = loaded;

        void Fail(string key, string rule)
        {
            CertificateFailures.AddOrUpdate(options, certificate.Path);
            BindingProblems.Of(options).Errors.Add($"{ConfigurationPath.Combine(certificate.Path, key)}: {rule}");
        }
    }

    private static bool TryGetFullPath(string path, string? root, [NotNullWhen(true)] out string? fullPath)
    {
        try
        {
            var basePath = string.IsNullOrEmpty(root) ? Directory.GetCurrentDirectory() : Path.GetFullPath(root);
            fullPath = Path.GetFullPath(path.Trim(), basePath);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            fullPath = null;
            return false;
        }
    }
}
