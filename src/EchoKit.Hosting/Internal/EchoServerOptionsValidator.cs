using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered echo server: the configuration values that could not be read,
/// then <see cref="EchoServerOptions.Validate"/>. Runs when the host starts (ValidateOnStart) and whenever the
/// options are built.
/// </summary>
internal sealed class EchoServerOptionsValidator(EchoServerRegistry registry) : IValidateOptions<EchoServerOptions>
{
    public ValidateOptionsResult Validate(string? name, EchoServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        name ??= Options.DefaultName;
        if (!registry.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>(EchoServerConfigurationBinder.GetErrors(options));
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            failures.Add(MessageWithoutParameterName(ex));
        }

        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        failures.AddRange(EchoServerConfigurationBinder.GetHints(options));
        return ValidateOptionsResult.Fail(name.Length == 0 ? failures : failures.Select(f => $"Echo server '{name}': {f}"));
    }

    private static string MessageWithoutParameterName(ArgumentException ex)
    {
        var suffix = ex.ParamName is null ? null : $" (Parameter '{ex.ParamName}')";
        return suffix is not null && ex.Message.EndsWith(suffix, StringComparison.Ordinal) ? ex.Message[..^suffix.Length] : ex.Message;
    }
}
