using System.Text.RegularExpressions;
using EchoKit.Internal;

namespace EchoKit.Tests;

/// <summary>
/// docs/FAULTS.md against the registry of fault types (<see cref="FaultTypes"/>), both ways: its tables of stream and
/// datagram rules list exactly the types that fit those transports, each row's rule names exactly the type's keys
/// (required ones outside brackets), and what the docs write parses; the type list and the live types match too.
/// </summary>
public partial class FaultRegistryDocsTests
{
    private static readonly string[] Lines = File.ReadAllLines(FindRepositoryFile("docs/FAULTS.md"));

    [Fact]
    public void The_registry_has_one_entry_per_fault_type_in_its_order()
    {
        Assert.Equal(Enum.GetValues<EchoFaultType>(), FaultTypes.All.Select(t => t.Type));
        Assert.Equal(FaultTypes.All.Count, FaultTypes.All.Select(t => t.Name).Distinct().Count());
        Assert.All(FaultTypes.All, t => Assert.Same(t, FaultTypes.Find(t.Name)));
    }

    [Theory]
    [InlineData("### Stream rules (TCP, TLS, Unix sockets)", EchoTransport.Tcp)]
    [InlineData("### Datagram rules (UDP)", EchoTransport.Udp)]
    public void Each_table_of_rules_lists_the_types_that_fit_its_transport_with_their_keys(string heading, EchoTransport transport)
    {
        var rules = RulesOfTable(heading);

        Assert.Equal(
            FaultTypes.All.Where(t => t.Fits(transport)).Select(t => t.Name).Order(),
            rules.Select(r => TypeOf(r)).Order());
        foreach (var rule in rules)
        {
            var info = FaultTypes.Find(TypeOf(rule))!;
            var documented = KeyName().Matches(rule).Select(m => (m.Groups[1].Value, Required: m.Index < Optional(rule))).ToList();
            Assert.True(
                info.Keys.Select(k => (k.Name, k.Required)).Order().SequenceEqual(documented.Order()),
                $"docs/FAULTS.md writes {rule}; the registry has {info.Name} with {string.Join(", ", info.Keys.Select(k => $"{k.Name}{(k.Required ? "" : " (optional)")}"))}.");

            // As written with every optional part (each choice's first word), and with none: both are rules.
            var full = Regex.Replace(rule.Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal), @"\\\|[a-z]+", "");
            var shortest = Regex.Replace(rule, @"\[[^\]]*\]", "");
            Assert.True(EchoFault.TryParse(full, out _, out var error), $"{full}: {error}");
            Assert.True(EchoFault.TryParse(shortest, out _, out error), $"{shortest}: {error}");
        }
    }

    [Fact]
    public void The_documented_list_of_types_is_the_registry()
    {
        var example = Lines.Single(l => l.StartsWith("'lag:delay=1s' is not a fault rule", StringComparison.Ordinal));

        Assert.EndsWith($"the types are {FaultTypes.Names}.", example, StringComparison.Ordinal);
    }

    [Fact]
    public void The_documented_per_echo_rules_are_those_a_live_connection_takes_up()
    {
        var text = string.Join(" ", Lines.SkipWhile(l => !l.StartsWith("- Open connections take up", StringComparison.Ordinal)).Take(3));
        var live = CodeSpan().Matches(text[..text.IndexOf("at their next echo", StringComparison.Ordinal)]).Select(m => m.Groups[1].Value);
        var kept = CodeSpan().Matches(text[text.IndexOf("they keep", StringComparison.Ordinal)..text.IndexOf("they got at accept", StringComparison.Ordinal)]).Select(m => m.Groups[1].Value);

        Assert.Equal(FaultTypes.All.Where(t => t.AppliesLive).Select(t => t.Name).Order(), live.Order());
        // What they keep: rules a connection still has after accept (so not refuse, which ends it there).
        Assert.All(kept, name => Assert.False(FaultTypes.Find(name)!.AppliesLive, name));
    }

    /// <summary>The rule (first cell, a code span, with its <c>\|</c> escapes) of each row of the first table after <paramref name="heading"/>.</summary>
    private static List<string> RulesOfTable(string heading)
    {
        var start = Array.IndexOf(Lines, heading);
        Assert.True(start >= 0, $"docs/FAULTS.md has no '{heading}' section.");
        var rows = Lines.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).Skip(2);
        var rules = rows.Select(r => CodeSpan().Match(r[1..].TrimStart()) is { Success: true, Index: 0 } span ? span.Groups[1].Value : r).ToList();
        Assert.All(rules, r => Assert.DoesNotContain('|', r.Replace(@"\|", "", StringComparison.Ordinal)));
        return rules;
    }

    private static string TypeOf(string rule) => Regex.Match(rule, "^[a-z-]+").Value;

    /// <summary>Where the optional part of <paramref name="rule"/> starts (its first bracket), or its end.</summary>
    private static int Optional(string rule) => rule.IndexOf('[', StringComparison.Ordinal) is var bracket and >= 0 ? bracket : rule.Length;

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

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex("([a-z-]+)=")]
    private static partial Regex KeyName();
}
