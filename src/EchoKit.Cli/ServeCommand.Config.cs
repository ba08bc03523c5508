using System.CommandLine;
using EchoKit.Shared;
using Microsoft.Extensions.Configuration;

namespace EchoKit.Cli;

/// <summary><c>--config</c> and <c>--config-section</c>: the JSON file whose options the flags are applied after.</summary>
internal sealed partial class ServeCommand
{
    /// <summary>
    /// The section of <c>--config</c> to bind, or <see langword="null"/> without the flag; returns a usage problem to
    /// report, or <see langword="null"/>.
    /// </summary>
    private string? ReadConfiguration(ParseResult parseResult, out IConfiguration? configuration)
    {
        configuration = null;
        if (parseResult.GetValue(_config) is { } configPath)
        {
            return LoadConfiguration(configPath, parseResult.GetValue(_configSection), out configuration);
        }

        return parseResult.IsGiven(_configSection) ? "--config-section needs --config." : null;
    }

    /// <summary>Reads the JSON file; returns a problem to report, or <see langword="null"/>.</summary>
    private static string? LoadConfiguration(string path, string? sectionName, out IConfiguration? configuration)
    {
        configuration = null;
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            return $"the configuration file {fullPath} does not exist.";
        }

        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonFile(fullPath, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
        {
            return $"cannot read the configuration file {fullPath}: {DescribeReadFailure(ex)}";
        }

        if (sectionName is not null)
        {
            var section = root.GetSection(sectionName);
            if (!section.Exists())
            {
                return $"the configuration file {fullPath} has no section '{sectionName}'.";
            }

            configuration = section;
        }
        else
        {
            var section = root.GetSection("EchoServer");
            configuration = section.Exists() ? section : root;
            if (configuration == root && ConfigurationKeyCheck.FindUnknownKeys(root) is { Count: > 0 } unknown)
            {
                // A file without an EchoServer section is the server's section; the binder checks only sections.
                return $"invalid options in {fullPath}:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", unknown)}";
            }
        }

        return null;
    }

    /// <summary>
    /// Where the JSON is malformed, as a person counts (line and column from 1), and why; otherwise the innermost
    /// reason. The configuration provider's own message ("Could not parse the JSON file") says neither.
    /// </summary>
    private static string DescribeReadFailure(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Text.Json.JsonException { LineNumber: { } line, BytePositionInLine: { } column } json)
            {
                var reason = json.Message;
                var at = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
                return $"malformed JSON at line {line + 1}, column {column + 1}: {(at > 0 ? reason[..at] : reason)}";
            }
        }

        return ex.GetBaseException().Message;
    }
}
