namespace EchoKit.Cli;

/// <summary>The fault part of <c>serve</c>'s status line: <c>faults: latency:delay=50ms; reset:after=2s</c> or <c>faults: none</c>.</summary>
internal static class StatusLine
{
    /// <summary>
    /// The most of the rules shown, so a long list does not turn a log line into a paragraph; <c>GET /faults</c>
    /// has them all.
    /// </summary>
    public const int MaxFaultsLength = 160;

    /// <summary>The ellipsis that ends what was cut.</summary>
    public const char Ellipsis = '…';

    /// <summary><c>faults: none</c>, or the rules' texts separated by <c>; </c>, cut at <see cref="MaxFaultsLength"/>.</summary>
    public static string Faults(IReadOnlyList<EchoFault> rules)
    {
        var text = "faults: " + (rules.Count == 0 ? "none" : string.Join("; ", rules.Select(r => r.ToString())));
        return Cut(text, MaxFaultsLength);
    }

    /// <summary>
    /// <paramref name="counters"/> then the rules. On a terminal of known <paramref name="width"/> the line is cut to
    /// fit with an ellipsis here, rather than cut bare by <see cref="LiveLine"/>, so a cut list of rules reads as one.
    /// </summary>
    public static string Compose(string counters, IReadOnlyList<EchoFault> rules, bool interactive, int width)
    {
        var line = $"{counters} | {Faults(rules)}";
        return interactive && width > 1 ? Cut(line, width - 1) : line;
    }

    /// <summary><paramref name="text"/>, or its first <paramref name="length"/> - 1 characters and an ellipsis.</summary>
    public static string Cut(string text, int length) =>
        text.Length <= length ? text : string.Concat(text.AsSpan(0, Math.Max(0, length - 1)), Ellipsis.ToString());
}
