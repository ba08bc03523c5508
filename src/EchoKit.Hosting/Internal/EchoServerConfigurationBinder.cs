using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Reads <see cref="EchoServerOptions"/> from configuration without reflection (so it is trim- and AOT-safe) and
/// without throwing: a value that cannot be read is recorded against the options instance, naming its key, and
/// reported by <see cref="EchoServerOptionsValidator"/> when the options are validated.
/// </summary>
internal static class EchoServerConfigurationBinder
{
    public const string EndPointsKey = nameof(EchoServerOptions.EndPoints);

    /// <summary>The section of the server certificate, under the <c>Tls</c> section; Kestrel's name for it.</summary>
    public const string CertificateKey = "Certificate";

    private static readonly ConditionalWeakTable<EchoServerOptions, Problems> ProblemsByOptions = new();

    /// <summary>Binds every key present in <paramref name="configuration"/>; keys not present leave the option as it is.</summary>
    /// <param name="configuration">The server's section (or a root).</param>
    /// <param name="options">The options to set.</param>
    /// <param name="services">
    /// Where to find the host's content root (relative certificate paths resolve against it, else against the current
    /// directory) and the owner of loaded certificates; <see langword="null"/> for neither.
    /// </param>
    public static void Bind(IConfiguration configuration, EchoServerOptions options, IServiceProvider? services = null)
    {
        if (configuration is IConfigurationSection section && !section.Exists())
        {
            Report(options).Hints.Add($"The configuration section '{section.Path}' is missing or empty.");
            return;
        }

        Report(options).Path = configuration is IConfigurationSection named ? named.Path : "";
        BindEndPoints(configuration, EndPointsKey, options, endPoint =>
        {
            options.EndPoints.Add(endPoint);
            return true;
        });
        BindEndPoints(configuration, nameof(EchoServerOptions.UdpEndPoints), options, AddIPEndPoint(options.UdpEndPoints));
        BindEndPoints(configuration, nameof(EchoServerOptions.TlsEndPoints), options, AddIPEndPoint(options.TlsEndPoints));
        Bind<bool>(configuration, nameof(EchoServerOptions.DualMode), TryParseBoolean, v => options.DualMode = v, options);
        Bind<int>(configuration, nameof(EchoServerOptions.Backlog), TryParseInt32, v => options.Backlog = v, options);
        Bind<int>(configuration, nameof(EchoServerOptions.MaxConnections), TryParseInt32, v => options.MaxConnections = v, options);
        Bind<int>(configuration, nameof(EchoServerOptions.ReceiveBufferSize), TryParseInt32, v => options.ReceiveBufferSize = v, options);
        Bind<bool>(configuration, nameof(EchoServerOptions.WaitForDataBeforeAllocatingBuffer), TryParseBoolean, v => options.WaitForDataBeforeAllocatingBuffer = v, options);
        Bind<TimeSpan?>(configuration, nameof(EchoServerOptions.IdleTimeout), TryParseOptionalTimeSpan, v => options.IdleTimeout = v, options);
        Bind<TimeSpan?>(configuration, nameof(EchoServerOptions.SendTimeout), TryParseOptionalTimeSpan, v => options.SendTimeout = v, options);
        Bind<TimeSpan?>(configuration, nameof(EchoServerOptions.MaxConnectionLifetime), TryParseOptionalTimeSpan, v => options.MaxConnectionLifetime = v, options);
        Bind<long?>(configuration, nameof(EchoServerOptions.MaxBytesPerConnection), TryParseOptionalInt64, v => options.MaxBytesPerConnection = v, options);
        Bind<int?>(configuration, nameof(EchoServerOptions.MaxConnectionsPerAddress), TryParseOptionalInt32, v => options.MaxConnectionsPerAddress = v, options);
        Bind<int?>(configuration, nameof(EchoServerOptions.MaxConnectionRate), TryParseOptionalInt32, v => options.MaxConnectionRate = v, options);
        Bind<TimeSpan>(configuration, nameof(EchoServerOptions.ShutdownTimeout), TryParseTimeSpan, v => options.ShutdownTimeout = v, options);
        Bind<bool>(configuration, nameof(EchoServerOptions.NoDelay), TryParseBoolean, v => options.NoDelay = v, options);
        Bind<bool>(configuration, nameof(EchoServerOptions.KeepAlive), TryParseBoolean, v => options.KeepAlive = v, options);
        BindUdp(configuration.GetSection(nameof(EchoServerOptions.Udp)), options.Udp, options);
        BindTls(configuration.GetSection(nameof(EchoServerOptions.Tls)), options.Tls, options, services);
    }

    /// <summary>
    /// The full key of the server certificate's path (such as <c>EchoServer:Tls:Certificate:Path</c>) when
    /// <paramref name="options"/> were bound from configuration and no certificate key there had a problem already;
    /// otherwise <see langword="null"/>.
    /// </summary>
    public static string? GetCertificatePathKey(EchoServerOptions options) =>
        ProblemsByOptions.TryGetValue(options, out var problems) && problems.Path is { } path && !problems.CertificateFailed
            ? Combine(path, $"{nameof(EchoServerOptions.Tls)}:{CertificateKey}:Path")
            : null;

    /// <summary>The configuration values that could not be read into <paramref name="options"/>, each naming its key.</summary>
    public static IReadOnlyList<string> GetErrors(EchoServerOptions options) =>
        ProblemsByOptions.TryGetValue(options, out var problems) ? problems.Errors : [];

    /// <summary>Notes that help explain other errors (such as a missing section).</summary>
    public static IReadOnlyList<string> GetHints(EchoServerOptions options) =>
        ProblemsByOptions.TryGetValue(options, out var problems) ? problems.Hints : [];

    /// <summary>
    /// Parses <c>127.0.0.1:7007</c>, <c>[::1]:7007</c> (the port is required; 0 picks a free one) or
    /// <c>unix:/path/to/socket</c>.
    /// </summary>
    public static bool TryParseEndPoint(string text, [NotNullWhen(true)] out EndPoint? endPoint, out string? problem)
    {
        endPoint = null;
        problem = null;
        text = text.Trim();
        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text["unix:".Length..];
            if (path.Length == 0)
            {
                problem = "a unix: endpoint needs a socket path, such as unix:/tmp/echo.sock";
                return false;
            }

            try
            {
                endPoint = new UnixDomainSocketEndPoint(path);
                return true;
            }
            catch (Exception ex) when (ex is ArgumentException or PlatformNotSupportedException)
            {
                problem = ex.Message;
                return false;
            }
        }

        // IPEndPoint.TryParse takes a missing port as port 0; demand it, so "127.0.0.1" does not silently pick a random port.
        var firstColon = text.IndexOf(':', StringComparison.Ordinal);
        var hasPort = text.StartsWith('[')
            ? text.Contains("]:", StringComparison.Ordinal)
            : firstColon > 0 && firstColon == text.LastIndexOf(':');
        if (hasPort && IPEndPoint.TryParse(text, out var ipEndPoint))
        {
            endPoint = ipEndPoint;
            return true;
        }

        return false;
    }

    private static Func<EndPoint, bool> AddIPEndPoint(IList<IPEndPoint> endPoints) => endPoint =>
    {
        if (endPoint is not IPEndPoint ipEndPoint)
        {
            return false;
        }

        endPoints.Add(ipEndPoint);
        return true;
    };

    /// <summary>
    /// Binds an array of endpoint strings, or one string separated by <c>;</c>. <paramref name="add"/> returns
    /// <see langword="false"/> for a kind of endpoint the list does not take (a Unix socket for UDP or TLS).
    /// </summary>
    private static void BindEndPoints(IConfiguration configuration, string key, EchoServerOptions options, Func<EndPoint, bool> add)
    {
        var section = configuration.GetSection(key);
        var children = section.GetChildren().ToList();
        if (children.Count > 0)
        {
            foreach (var child in children)
            {
                if (child.Value is null)
                {
                    if (child.GetChildren().Any())
                    {
                        Report(options).Errors.Add($"{PathOf(configuration, child.Path)}: each endpoint must be a string such as \"127.0.0.1:7007\", not an object.");
                    }

                    continue;
                }

                AddEndPoint(configuration, key, child.Path, child.Value, options, add);
            }
        }
        else if (section.Value is { } list)
        {
            // One string, for environment variables and command lines: "127.0.0.1:7007;[::1]:7007".
            foreach (var item in list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                AddEndPoint(configuration, key, section.Path, item, options, add);
            }
        }
    }

    private static void AddEndPoint(IConfiguration configuration, string key, string path, string text, EchoServerOptions options, Func<EndPoint, bool> add)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        var tcp = key == EndPointsKey;
        if (TryParseEndPoint(text, out var endPoint, out var problem))
        {
            if (add(endPoint))
            {
                return;
            }

            problem = $"{key} takes IP endpoints only; Unix domain sockets go in {EndPointsKey}";
        }

        Report(options).Errors.Add(
            $"{PathOf(configuration, path)}: '{text}' is not a valid endpoint" + (problem is null ? "" : $" ({problem})") +
            "; write an IP address and port such as 127.0.0.1:7007, [::1]:7007 or 0.0.0.0:0 (port 0 picks a free port)" +
            (tcp ? ", or unix:/path/to/socket." : "."));
    }

    private static void BindUdp(IConfigurationSection udp, UdpEchoOptions target, EchoServerOptions options)
    {
        Bind<int>(udp, nameof(UdpEchoOptions.MaxDatagramSize), TryParseInt32, v => target.MaxDatagramSize = v, options);
        Bind<int>(udp, nameof(UdpEchoOptions.DatagramsInFlight), TryParseInt32, v => target.DatagramsInFlight = v, options);
        Bind<int?>(udp, nameof(UdpEchoOptions.PerSourceRateLimit), TryParseOptionalInt32, v => target.PerSourceRateLimit = v, options);
        Bind<int>(udp, nameof(UdpEchoOptions.MaxTrackedSources), TryParseInt32, v => target.MaxTrackedSources = v, options);
        BindBlockedSourcePorts(udp, target.BlockedSourcePorts, options);
    }

    /// <summary>
    /// A configured list replaces the default ports (a list is what a user writing one expects to get); an empty
    /// list (<c>[]</c> in JSON, or an empty string) clears them. When any item cannot be read the set is left as it was.
    /// </summary>
    private static void BindBlockedSourcePorts(IConfigurationSection udp, ISet<int> target, EchoServerOptions options)
    {
        const string Key = nameof(UdpEchoOptions.BlockedSourcePorts);
        var section = udp.GetSection(Key);
        var children = section.GetChildren().ToList();
        var ports = new List<int>();
        var valid = true;
        if (children.Count > 0)
        {
            foreach (var child in children)
            {
                if (child.Value is null)
                {
                    if (child.GetChildren().Any())
                    {
                        Report(options).Errors.Add($"{child.Path}: each port must be a whole number such as 7, not an object.");
                        valid = false;
                    }

                    continue;
                }

                valid &= TryAddPort(child.Path, child.Value);
            }
        }
        else if (section.Value is { } list)
        {
            // One string, for environment variables and command lines: "7;19;53".
            foreach (var item in list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                valid &= TryAddPort(section.Path, item);
            }
        }
        else if (!udp.GetChildren().Any(c => string.Equals(c.Key, Key, StringComparison.OrdinalIgnoreCase)))
        {
            // Absent: keep the defaults. (An empty JSON array is present, with a null value: it clears them.)
            return;
        }

        if (valid)
        {
            target.Clear();
            target.UnionWith(ports);
        }

        bool TryAddPort(string path, string text)
        {
            if (TryParseInt32(text, out var port, out var expected))
            {
                ports.Add(port);
                return true;
            }

            Report(options).Errors.Add($"{path}: '{text}' is not {expected}.");
            return false;
        }
    }

    private static void BindTls(IConfigurationSection tls, TlsEchoOptions target, EchoServerOptions options, IServiceProvider? services)
    {
        Bind<TimeSpan>(tls, nameof(TlsEchoOptions.HandshakeTimeout), TryParseTimeSpan, v => target.HandshakeTimeout = v, options);
        Bind<SslProtocols>(tls, nameof(TlsEchoOptions.EnabledSslProtocols), TryParseSslProtocols, v => target.EnabledSslProtocols = v, options);
        Bind<bool>(tls, nameof(TlsEchoOptions.ClientCertificateRequired), TryParseBoolean, v => target.ClientCertificateRequired = v, options);
        BindCertificate(tls.GetSection(CertificateKey), target, options, services);
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
        if (!EchoServerCertificateLoader.TryLoad(fullPath, fullKeyPath, string.IsNullOrEmpty(password) ? null : password, out var loaded, out var failure))
        {
            Fail(failure.Key, failure.Reason + ".");
            return;
        }

        services?.GetService<LoadedCertificates>()?.Add(loaded);
        target.ServerCertificate = loaded;

        void Fail(string key, string rule)
        {
            var problems = Report(options);
            problems.CertificateFailed = true;
            problems.Errors.Add($"{ConfigurationPath.Combine(certificate.Path, key)}: {rule}");
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

    private delegate bool TryParse<T>(string text, out T value, out string expected);

    private static void Bind<T>(IConfiguration configuration, string key, TryParse<T> tryParse, Action<T> set, EchoServerOptions options)
    {
        var text = configuration[key];
        if (text is null)
        {
            return;
        }

        if (tryParse(text, out var value, out var expected))
        {
            set(value);
        }
        else
        {
            var path = configuration is IConfigurationSection section ? Combine(section.Path, key) : key;
            Report(options).Errors.Add($"{path}: '{text}' is not {expected}.");
        }
    }

    private static bool TryParseInt32(string text, out int value, out string expected)
    {
        expected = "a whole number";
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryParseOptionalInt32(string text, out int? value, out string expected)
    {
        expected = "a whole number, or empty to turn it off";
        value = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        var parsed = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number);
        value = number;
        return parsed;
    }

    private static bool TryParseOptionalInt64(string text, out long? value, out string expected)
    {
        expected = "a whole number, or empty to turn it off";
        value = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        var parsed = long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number);
        value = number;
        return parsed;
    }

    private static bool TryParseBoolean(string text, out bool value, out string expected)
    {
        expected = "true or false";
        return bool.TryParse(text, out value);
    }

    private static bool TryParseTimeSpan(string text, out TimeSpan value, out string expected)
    {
        // A bare number would parse as days ("30" is 30 days), which is never what is meant: demand hh:mm:ss.
        expected = "a time span written [d.]hh:mm:ss[.fffffff], such as 00:00:30";
        value = default;
        return text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryParseOptionalTimeSpan(string text, out TimeSpan? value, out string expected)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            expected = "";
            value = null;
            return true;
        }

        var parsed = TryParseTimeSpan(text, out var timeSpan, out expected);
        expected += ", or empty to turn it off";
        value = timeSpan;
        return parsed;
    }

    /// <summary>
    /// Names such as <c>Tls12, Tls13</c> (any case, separated by commas), or <c>None</c> to let the operating system
    /// choose. Numbers are refused: <see cref="Enum.TryParse{TEnum}(string, bool, out TEnum)"/> would take any.
    /// </summary>
    private static bool TryParseSslProtocols(string text, out SslProtocols value, out string expected)
    {
        expected = "TLS protocol names separated by commas, such as Tls12, Tls13, or None to let the operating system choose";
        value = SslProtocols.None;
        var names = text.Split(',', StringSplitOptions.TrimEntries);
        foreach (var name in names)
        {
            if (name.Length == 0 || !char.IsAsciiLetter(name[0]) || !Enum.TryParse<SslProtocols>(name, ignoreCase: true, out var protocol))
            {
                value = SslProtocols.None;
                return false;
            }

            value |= protocol;
        }

        return true;
    }

    /// <summary>A key under a section, or the key alone under a root (whose path is empty).</summary>
    private static string Combine(string sectionPath, string key) =>
        sectionPath.Length == 0 ? key : ConfigurationPath.Combine(sectionPath, key);

    /// <summary><paramref name="path"/> is already the full path of a child of <paramref name="configuration"/>.</summary>
    private static string PathOf(IConfiguration configuration, string path) =>
        path.Length > 0 || configuration is not IConfigurationSection section ? path : section.Path;

    private static Problems Report(EchoServerOptions options) => ProblemsByOptions.GetValue(options, static _ => new Problems());

    private sealed class Problems
    {
        /// <summary>The path of the section bound last (empty for a root); <see langword="null"/> when none was.</summary>
        public string? Path { get; set; }

        /// <summary>A <c>Tls:Certificate</c> key already has an error, so no hint about a missing certificate is needed.</summary>
        public bool CertificateFailed { get; set; }

        public List<string> Errors { get; } = [];

        public List<string> Hints { get; } = [];
    }
}
