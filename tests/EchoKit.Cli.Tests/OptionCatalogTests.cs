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
        ["FaultSelector"] = "a callback",
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
                if (property.PropertyType == typeof(UdpEchoOptions) || property.PropertyType == typeof(TlsEchoOptions) || property.PropertyType == typeof(ProxyProtocolOptions))
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
        var bad = BadValueOf(property);
        var parsed = serve.Parse([description.Flag, bad]);
        Assert.Contains(parsed.Errors, e => e.Message.StartsWith($"Invalid value '{bad}' for {description.Flag}: ", StringComparison.Ordinal));
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
            .AddInMemoryCollection(new Dictionary<string, string?> { [$"EchoServer:{key}"] = BadValueOf(property) })
            .Build();
        var services = new ServiceCollection();
        services.AddEchoServer(configuration.GetSection("EchoServer"));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<EchoServerOptions>>().Get(Options.DefaultName));

        Assert.Contains(ex.Failures, f => f.StartsWith($"EchoServer:{key}: '{BadValueOf(property)}' is not ", StringComparison.Ordinal));
    }

    /// <summary>A value the option's grammar rejects: <c>!bad!</c>, except for free text, where only a broken escape is.</summary>
    private static string BadValueOf(string property) => property == nameof(EchoServerOptions.Greeting) ? @"bad\q" : "!bad!";

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
    /// The options tables of the README (section "## Options"), of docs/HOSTING.md (its keys) and of docs/CLI.md (its
    /// flags): every row names an option of the catalog, by property, key or flag, and the first code span of its
    /// Default column is the default the code has, as the grammar writes it. The README and HOSTING.md list every
    /// option; CLI.md's table every one but the endpoints, which have their own table.
    /// </summary>
    [Theory]
    [InlineData("README.md", "## Options", true)]
    [InlineData("docs/HOSTING.md", "## Configuration keys", true)]
    [InlineData("docs/CLI.md", "### Limits and tuning", false)]
    public void The_documented_defaults_are_the_defaults_the_code_has(string file, string heading, bool listsEndPoints)
    {
        var rows = ReadOptionsTable(FindRepositoryFile(file), heading);

        var documented = new List<EchoServerOptionDescription>();
        foreach (var (name, defaultCell) in rows.Where(r => !r.Option.StartsWith("Tls:Certificate:", StringComparison.Ordinal)))
        {
            var description = EchoServerOptionCatalog.All.FirstOrDefault(d => name == d.Property || name == d.Key || name == d.Flag);
            Assert.True(description is not null, $"{file} names '{name}' in its options table, which is no option.");
            var shown = CodeSpan().Match(defaultCell);
            Assert.True(shown.Success, $"{file}: the default of {name} is not written as code: {defaultCell}");
            Assert.True(description.DefaultText == shown.Groups[1].Value, $"{file} says {name} defaults to {shown.Groups[1].Value}; the code says {description.DefaultText}.");
            documented.Add(description);
        }

        Assert.All(EchoServerOptionCatalog.All.Where(d => listsEndPoints || d is not EndPointListOption), d => Assert.Contains(d, documented));
    }

    /// <summary>The rows of the first table after <paramref name="heading"/>: the first cell's first word without backticks, and the second cell.</summary>
    private static List<(string Option, string Default)> ReadOptionsTable(string path, string heading)
    {
        var lines = File.ReadAllLines(path);
        var start = Array.IndexOf(lines, heading);
        Assert.True(start >= 0, $"{path} has no '{heading}' section.");
        var rows = new List<(string, string)>();
        foreach (var line in lines.Skip(start + 1).TakeWhile(l => !l.StartsWith('#')))
        {
            // A cell may hold an escaped bar (`N\|off`), which does not end it.
            var cells = Regex.Split(line, @"(?<!\\)\|").Select(c => c.Trim()).ToArray();
            if (!line.StartsWith('|') || cells.Length < 4 || cells[2] == "Default" || cells[1].StartsWith("---", StringComparison.Ordinal))
            {
                continue;
            }

            rows.Add((cells[1].Trim('`').Split(' ')[0], cells[2]));
        }

        Assert.NotEmpty(rows);
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
