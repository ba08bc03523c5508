using EchoKit.Shared;
using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered echo server or fault proxy when the host starts (ValidateOnStart), before
/// any of them binds: the configuration values that could not be read (each naming its key), then the options' own
/// rules (naming the option), then the notes of <see cref="Explain"/>. Options of a name not added through this package
/// are skipped.
/// </summary>
/// <param name="registry">The names added to the service collection.</param>
/// <param name="kind">What the options configure, to prefix the failures of a named one ("Fault proxy 'redis': ...").</param>
internal abstract class HostedOptionsValidator<TOptions>(HostedNameRegistry registry, string kind) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        name ??= Options.DefaultName;
        if (!registry.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>(BindingProblems.GetErrors(options));
        try
        {
            ValidateRules(options);
        }
        catch (ArgumentException ex)
        {
            failures.Add(EchoServerOptionDescription.RuleOf(ex));
        }

        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        Explain(options, failures);
        return ValidateOptionsResult.Fail(name.Length == 0 ? failures : failures.Select(f => $"{kind} '{name}': {f}"));
    }

    /// <summary>The options' own <c>Validate</c>, which throws an <see cref="ArgumentException"/> naming the option.</summary>
    protected abstract void ValidateRules(TOptions options);

    /// <summary>Adds the notes that help read <paramref name="failures"/>: the binding hints, and keys to name.</summary>
    protected abstract void Explain(TOptions options, List<string> failures);
}
