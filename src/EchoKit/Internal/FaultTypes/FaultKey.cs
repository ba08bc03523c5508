using System.Diagnostics.CodeAnalysis;
using EchoKit.Shared;

namespace EchoKit.Internal;

/// <summary>
/// One key of a fault type's rule (<c>delay=50ms</c>): its name, the grammar of its value, whether a rule needs it,
/// and how a value is read and checked (<see cref="TryRead"/>) and written back (<see cref="Format"/>). The kinds of
/// value (<see cref="Time"/>, <see cref="TimeOrNever"/>, <see cref="Size"/>, <see cref="SizeRange"/>,
/// <see cref="CloseMode"/>) read with <see cref="ValueGrammar"/>, the grammar of every EchoKit option.
/// </summary>
internal abstract class FaultKey(string name, string grammar, bool required)
{
    /// <summary>The key's word: <c>delay</c>, <c>close-after</c>.</summary>
    public string Name { get; } = name;

    /// <summary>How the usage text writes its value: <c>TIME</c>, <c>SIZE</c>, <c>N|MIN-MAX</c>, <c>close|reset</c>.</summary>
    public string Grammar { get; } = grammar;

    /// <summary>Whether a rule of its type must give it; an optional key left out takes <see cref="Absent"/>.</summary>
    public bool Required { get; } = required;

    /// <summary>The value of an optional key a rule leaves out (also the one the shortest form leaves out).</summary>
    public abstract object? Absent { get; }

    /// <summary>A key whose value is a duration (<c>TIME</c>) within what a timer takes; zero is refused with <paramref name="zero"/> when given.</summary>
    public static FaultKey<TimeSpan> Time(string name, Func<EchoFault, TimeSpan> get, bool required = false, TimeSpan absent = default, string? zero = null) =>
        new(name, "TIME", required, ValueGrammar.TryParseDuration, value => TimeRule(value, zero), ValueGrammar.FormatDuration, get, absent);

    /// <summary>An optional duration whose absence means never (<see langword="null"/>); zero is refused with <paramref name="zero"/>.</summary>
    public static FaultKey<TimeSpan?> TimeOrNever(string name, Func<EchoFault, TimeSpan?> get, string zero) =>
        new(name, "TIME", false, ReadTimeOrNever, value => TimeRule(value.GetValueOrDefault(), zero), value => ValueGrammar.FormatDuration(value.GetValueOrDefault()), get, null);

    /// <summary>A key whose value is a number of bytes (<c>SIZE</c>) of at least <paramref name="min"/>; a smaller one is refused with <paramref name="below"/>.</summary>
    public static FaultKey<long> Size(string name, Func<EchoFault, long> get, long min, string below, bool required = false, long absent = 0, string grammar = "SIZE") =>
        new(name, grammar, required, ValueGrammar.TryParseSize, value => value < min ? below : null, ValueGrammar.FormatSize, get, absent);

    /// <summary>A required key whose value is a size (<c>8</c>) or a range of sizes (<c>1-16</c>), each at least 1 byte and below 2 GiB.</summary>
    public static FaultKey<(int Min, int Max)> SizeRange(string name, Func<EchoFault, (int Min, int Max)> get) =>
        new(name, "N|MIN-MAX", true, ReadSizeRange, value => value.Min < 1 || value.Max < value.Min ? "must be at least 1 byte, and a range must go up (1-16)" : null,
            value => value.Min == value.Max ? ValueGrammar.FormatSize(value.Min) : $"{ValueGrammar.FormatSize(value.Min)}-{ValueGrammar.FormatSize(value.Max)}", get, default);

    /// <summary>An optional key whose value is <c>close</c> (or <c>fin</c>) or <c>reset</c> (or <c>rst</c>), <paramref name="absent"/> when left out; the usage text names the default first.</summary>
    public static FaultKey<EchoFaultClose> CloseMode(string name, Func<EchoFault, EchoFaultClose> get, EchoFaultClose absent) =>
        new(name, absent == EchoFaultClose.Close ? "close|reset" : "reset|close", false, ReadCloseMode, _ => null,
            value => value == EchoFaultClose.Reset ? "reset" : "close", get, absent);

    /// <summary>What a text that is no value should have been, as fault errors say it after "is not": <c>a time span (a duration cannot be negative)</c>.</summary>
    public static string Expected(ValueError error) => error.Detail is null ? error.What : $"{error.What} ({error.Detail})";

    /// <summary>
    /// Reads <paramref name="text"/>, the value given for this key, and checks its range; else <paramref name="rule"/>
    /// says what is wrong, as it follows the key and the text (<c>is not a time span</c>, <c>must be more than zero</c>).
    /// </summary>
    public abstract bool TryRead(string text, out object? value, [NotNullWhen(false)] out string? rule);

    /// <summary>This key's value in <paramref name="fault"/> as the grammar writes it, or <see langword="null"/> to leave it out: an optional key at its <see cref="Absent"/> value.</summary>
    public abstract string? Format(EchoFault fault);

    private static string? TimeRule(TimeSpan value, string? zero) => EchoFault.CheckDuration(value) ?? (value == TimeSpan.Zero ? zero : null);

    private static bool ReadTimeOrNever(string text, out TimeSpan? value, out ValueError error)
    {
        var read = ValueGrammar.TryParseDuration(text, out var duration, out error);
        value = duration;
        return read;
    }

    private static bool ReadSizeRange(string text, out (int Min, int Max) value, out ValueError error)
    {
        error = new ValueError("a size (16) or a range of sizes (1-16)");
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var minText = dash < 0 ? text : text[..dash];
        var maxText = dash < 0 ? text : text[(dash + 1)..];
        var read = ValueGrammar.TryParseInt32Size(minText, out var min, out _) & ValueGrammar.TryParseInt32Size(maxText, out var max, out _);
        value = (min, max);
        return read;
    }

    private static bool ReadCloseMode(string text, out EchoFaultClose value, out ValueError error)
    {
        error = new ValueError("close or reset");
        value = default;
        switch (text.ToLowerInvariant())
        {
            case "close" or "fin":
                value = EchoFaultClose.Close;
                return true;
            case "reset" or "rst":
                value = EchoFaultClose.Reset;
                return true;
            default:
                return false;
        }
    }
}

/// <summary>A <see cref="FaultKey"/> whose value is a <typeparamref name="T"/>, read from and written back to an <see cref="EchoFault"/> property.</summary>
/// <typeparam name="T">The value's type: a duration, a size, a range of sizes, a close mode.</typeparam>
/// <param name="name">The key's word.</param>
/// <param name="grammar">How the usage text writes its value.</param>
/// <param name="required">Whether a rule must give it.</param>
/// <param name="read">Reads the text (its form only).</param>
/// <param name="check">The range rule of a value read: <see langword="null"/> when it holds, else what the error says.</param>
/// <param name="format">Writes a value as <paramref name="read"/> reads it back.</param>
/// <param name="get">The value in a rule (the property that holds it).</param>
/// <param name="absent">The value when left out.</param>
internal sealed class FaultKey<T>(
    string name, string grammar, bool required, ValueGrammar.Reader<T> read, Func<T, string?> check, Func<T, string> format, Func<EchoFault, T> get, T absent)
    : FaultKey(name, grammar, required)
{
    /// <inheritdoc/>
    public override object? Absent => absent;

    /// <inheritdoc/>
    public override bool TryRead(string text, out object? value, [NotNullWhen(false)] out string? rule)
    {
        value = null;
        if (!read(text, out var parsed, out var error))
        {
            rule = "is not " + Expected(error);
            return false;
        }

        value = parsed;
        rule = check(parsed);
        return rule is null;
    }

    /// <inheritdoc/>
    public override string? Format(EchoFault fault)
    {
        var value = get(fault);
        return !Required && EqualityComparer<T>.Default.Equals(value, absent) ? null : format(value);
    }
}
