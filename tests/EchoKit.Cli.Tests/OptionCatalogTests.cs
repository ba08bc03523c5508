using System.Reflection;
using System.Text.RegularExpressions;
using EchoKit.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EchoKit.Cli.Tests;

/// <summary>
/// Each option of <see cref="EchoServerOptions"/> is declared once (<see cref="EchoServerOptionCatalog"/>) and reaches
/// both ways of setting it: an <c>echokit serve</c> flag and an EchoKit.Hosting configuration key; the defaults shown
/// in help and in the README are the code's.
/// </summary>
public partial class OptionCatalogTests
{
    /// <summary>
    /// Options that cannot be a flag or a configuration value, and why. Nothing else may be missing from the catalog.
    /// </summary>
    private static readonly Dictionary<string, string> NotFlags = new()
    {
        // An X509Certificate2 object: it is loaded from files, by --tls-cert/--tls-key/--tls-cert-password (or made by
        // --tls-self-signed) and by the Tls:Certificate:Path/KeyPath/Password keys, both through EchoServerCertificateLoader.
        ["Tls.ServerCertificate"] = "a certificate object",
        // Callbacks: code, which text cannot carry.
        ["Tls.ServerCertificateSelector"] = "a callback",
        ["Tls.ClientCertificateValidation"] = "a callback",
        ["Tls.ConfigureAuthentication"] = "a callback",
    };

    /// <summary>
    /// Every public option, found by reflection: settable properties and mutable collections (<c>EndPoints</c>,
    /// <c>Udp.BlockedSourcePorts</c>), with <c>Udp</c> and <c>Tls</c> entered as sections.
    /// </summary>
    public static TheoryData<string> OptionProperties()
    {
        var data = new TheoryData<string>();
        foreach (var property in OptionsOf(typeof(EchoServerOptions), ""))
        {
            data.Add(property);
        }

        return data;

        static IEnumerable<string> OptionsOf(Type type, string prefix)
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.PropertyType == typeof(UdpEchoOptions) || property.PropertyType == typeof(TlsEchoOptions))
                {
                    foreach (var nested in OptionsOf(property.PropertyType, property.Name + "."))
                    {
                        yield return nested;
                    }
                }
                else if (property.SetMethod is { IsPublic: true } || IsMutableCollection(property.PropertyType))
                {
                    yield return prefix + property.Name;
                }
            }
        }

        static bool IsMutableCollection(Type type) =>
            type.IsGenericType && type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICollection<>));
    }

    [Theory]
    [MemberData(nameof(OptionProperties))]
    public void Every_option_has_a_flag_of_serve(string property)
    {
        if (NotFlags.ContainsKey(property))
        {
            return;
        }

        Assert.True(EchoServerOptionCatalog.TryFind(property, out var description), $"EchoServerOptions.{property} has no entry in EchoServerOptionCatalog, so no flag and no configuration key.");

        // The flag is really there: a bad value is a parse error that names it.
        var serve = Assert.Single(EchoKitCommandLine.Build(NewConsole()).Subcommands, c => c.Name == "serve");
        Assert.Contains(serve.Options, o => o.Name == description.Flag);
        var parsed = serve.Parse([description.Flag, "!bad!"]);
        Assert.Contains(parsed.Errors, e => e.Message.StartsWith($"Invalid value '!bad!' for {description.Flag}: ", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(OptionProperties))]
    public void Every_option_has_a_configuration_key(string property)
    {
        if (NotFlags.ContainsKey(property))
        {
            return;
        }

        // The key is really read: a bad value under it fails the options, naming the key.
        var key = property.Replace('.', ':');
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [$"EchoServer:{key}"] = "!bad!" })
            .Build();
        var services = new ServiceCollection();
        services.AddEchoServer(configuration.GetSection("EchoServer"));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(Options.DefaultName));

        Assert.Contains(ex.Failures, f => f.StartsWith($"EchoServer:{key}: '!bad!' is not ", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_exclusion_is_still_an_option()
    {
        var properties = OptionProperties().Cast<object[]>().Select(row => (string)row[0]).ToHashSet();

        Assert.All(NotFlags.Keys, property => Assert.Contains(property, properties));
        Assert.All(EchoServerOptionCatalog.All, d => Assert.Contains(d.Property, properties));
    }

    [Fact]
    public async Task Help_shows_the_defaults_of_new_EchoServerOptions()
    {
        var (exitCode, output, _) = await CliRun.RunAsync("serve", "--help");
        var defaults = new EchoServerOptions();

        Assert.Equal(0, exitCode);
        Assert.All(EchoServerOptionCatalog.All.Where(d => !d.IsList || d.DefaultText != ValueGrammar.EmptyList), description =>
            Assert.Matches($@"\n  {Regex.Escape(description.Flag)} <[^>]+> +[^\n]*\[default: {Regex.Escape(description.DefaultText)}\]", output));

        // And the formatting is the options' value, read independently of the catalog.
        Assert.Contains($"[default: {defaults.MaxConnections}]", output, StringComparison.Ordinal);
        Assert.Contains($"[default: {defaults.ReceiveBufferSize / 1024}KiB]", output, StringComparison.Ordinal);
        Assert.Contains($"[default: {defaults.SendTimeout!.Value.TotalSeconds}s]", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_default_reads_back_as_itself()
    {
        Assert.All(EchoServerOptionCatalog.All, description =>
        {
            var text = description.DefaultText;
            string[] items = description.IsList ? (ValueGrammar.IsOff(text) ? [] : ValueGrammar.SplitList(text)) : [text];
            var values = new List<object?>();
            foreach (var item in items)
            {
                Assert.True(description.TryRead(item, OptionSource.Configuration, out var value, out var error), error.ForKey(description.Key, item));
                values.Add(value);
            }

            var options = new EchoServerOptions();
            description.Apply(options, values);

            Assert.Equal(text, description.Format(options));
        });
    }

    /// <summary>
    /// The README's options table (section "## Options"): every row names an option of the catalog, and the first
    /// code span of its Default column is the default the code has, as the grammar writes it.
    /// </summary>
    [Fact]
    public void The_README_options_table_shows_the_defaults_the_code_has()
    {
        var rows = ReadOptionsTable(FindRepositoryFile("README.md"));

        Assert.NotEmpty(rows);
        foreach (var (option, defaultCell) in rows)
        {
            Assert.True(EchoServerOptionCatalog.TryFind(option, out var description), $"The README's options table names '{option}', which is not an option.");
            var shown = CodeSpan().Match(defaultCell);
            Assert.True(shown.Success, $"The README's default of {option} is not written as code: {defaultCell}");
            Assert.True(description.DefaultText == shown.Groups[1].Value, $"The README says {option} defaults to {shown.Groups[1].Value}; the code says {description.DefaultText}.");
        }

        Assert.All(EchoServerOptionCatalog.All, d => Assert.Contains(d.Property, rows.Select(r => r.Option)));
    }

    internal static List<(string Option, string Default)> ReadOptionsTable(string readmePath)
    {
        var lines = File.ReadAllLines(readmePath);
        var start = Array.IndexOf(lines, "## Options");
        Assert.True(start >= 0, "README.md has no '## Options' section.");
        var rows = new List<(string, string)>();
        foreach (var line in lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal)))
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length < 4 || !line.StartsWith('|') || cells[1] is "Option" || cells[1].StartsWith("---", StringComparison.Ordinal))
            {
                continue;
            }

            rows.Add((cells[1].Trim('`'), cells[2]));
        }

        return rows;
    }

    private static string FindRepositoryFile(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EchoKit.sln")))
            {
                return Path.Combine(directory.FullName, name);
            }
        }

        throw new FileNotFoundException($"No EchoKit.sln above {AppContext.BaseDirectory}.");
    }

    private static CliConsole NewConsole() =>
        new(TextWriter.Null, TextWriter.Null, false, false, 0, CancellationToken.None, CancellationToken.None);

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();
}
