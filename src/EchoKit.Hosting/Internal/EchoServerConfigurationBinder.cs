using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Reads <see cref="EchoServerOptions"/> from configuration without reflection (so it is trim- and AOT-safe) and
/// without throwing: a value that cannot be read is recorded against the options instance, naming its key, and
/// reported by <see cref="EchoServerOptionsValidator"/> when the options are validated.
/// </summary>
internal static class EchoServerConfigurationBinder
{
    public const string EndPointsKey = nameof(EchoServerOptions.EndPoints);

    private static readonly ConditionalWeakTable<EchoServerOptions, Problems> ProblemsByOptions = new();

    /// <summary>Binds every key present in <paramref name="configuration"/>; keys not present leave the option as it is.</summary>
    public static void Bind(IConfiguration configuration, EchoServerOptions options)
    {
        if (configuration is IConfigurationSection section && !section.Exists())
        {
            Report(options).Hints.Add($"The configuration section '{section.Path}' is missing or empty.");
            return;
        }

        BindEndPoints(configuration, options);
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
    }

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

    private static void BindEndPoints(IConfiguration configuration, EchoServerOptions options)
    {
        var section = configuration.GetSection(EndPointsKey);
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

                AddEndPoint(configuration, child.Path, child.Value, options);
            }
        }
        else if (section.Value is { } list)
        {
            // One string, for environment variables and command lines: "127.0.0.1:7007;[::1]:7007".
            foreach (var item in list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                AddEndPoint(configuration, section.Path, item, options);
            }
        }
    }

    private static void AddEndPoint(IConfiguration configuration, string path, string text, EchoServerOptions options)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        if (TryParseEndPoint(text, out var endPoint, out var problem))
        {
            options.EndPoints.Add(endPoint);
            return;
        }

        Report(options).Errors.Add(
            $"{PathOf(configuration, path)}: '{text}' is not a valid endpoint" + (problem is null ? "" : $" ({problem})") +
            "; write an IP address and port such as 127.0.0.1:7007, [::1]:7007 or 0.0.0.0:0 (port 0 picks a free port), or unix:/path/to/socket.");
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
            var path = configuration is IConfigurationSection section ? ConfigurationPath.Combine(section.Path, key) : key;
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

    /// <summary><paramref name="path"/> is already the full path of a child of <paramref name="configuration"/>.</summary>
    private static string PathOf(IConfiguration configuration, string path) =>
        path.Length > 0 || configuration is not IConfigurationSection section ? path : section.Path;

    private static Problems Report(EchoServerOptions options) => ProblemsByOptions.GetValue(options, static _ => new Problems());

    private sealed class Problems
    {
        public List<string> Errors { get; } = [];

        public List<string> Hints { get; } = [];
    }
}
