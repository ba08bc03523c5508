namespace EchoKit.Hosting.Internal;

/// <summary>
/// Validates the options of every registered fault proxy (see <see cref="HostedOptionsValidator{TOptions}"/>), naming
/// the <c>Upstream</c> key when a proxy from configuration has none.
/// </summary>
internal sealed class FaultProxyOptionsValidator(FaultProxyRegistry registry)
    : HostedOptionsValidator<FaultProxyOptions>(registry, "Fault proxy")
{
    protected override void ValidateRules(FaultProxyOptions options) => options.Validate();

    protected override void Explain(FaultProxyOptions options, List<string> failures)
    {
        // The options' rule names FaultProxyOptions.Upstream; from configuration, name the key that sets it too. (A
        // value that did not parse is already named, with its key.)
        if (options.Upstream is null
            && BindingProblems.GetKey(options, nameof(FaultProxyOptions.Upstream)) is { } upstreamKey
            && !failures.Any(f => f.StartsWith(upstreamKey + ":", StringComparison.OrdinalIgnoreCase)))
        {
            failures.Add($"{upstreamKey}: the server each connection is relayed to is required; write a host and port such as 127.0.0.1:6379 or redis.local:6379, or unix:/path/to/socket.");
        }

        failures.AddRange(BindingProblems.GetHints(options));
    }
}
