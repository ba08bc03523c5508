using Microsoft.Extensions.Options;

namespace EchoKit.Hosting.Internal;

/// <summary>Fails the host's start on a bad <c>DrainDelay</c>, naming the key (or the option) and the rule.</summary>
internal sealed class EchoServerDrainOptionsValidator(EchoServerRegistry registry) : IValidateOptions<EchoServerDrainOptions>
{
    public ValidateOptionsResult Validate(string? name, EchoServerDrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!registry.Contains(name ?? Options.DefaultName))
        {
            return ValidateOptionsResult.Skip;
        }

        if (options.BindError is { } error)
        {
            return ValidateOptionsResult.Fail(error);
        }

        return options.DrainDelay < TimeSpan.Zero || options.DrainDelay > TimeSpan.FromHours(1)
            ? ValidateOptionsResult.Fail($"EchoServerDrainOptions.DrainDelay must be from 0 to 1 hour (was {options.DrainDelay}).")
            : ValidateOptionsResult.Success;
    }
}
