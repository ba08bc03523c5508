using EchoKit.Internal;

namespace EchoKit;

/// <summary>
/// The fault rules of a server, changeable while it runs (<see cref="EchoServer.Faults"/>). A change applies to new
/// connections (and UDP datagrams) at once, and to existing connections at their next echo for the rules that act
/// per echo: latency, bandwidth, slice, blackhole, corrupt and stall-reads; a connection keeps the rules of the other
/// types as it got them at accept. Connections whose faults came from <see cref="EchoServerOptions.FaultSelector"/>
/// keep them. Thread-safe; each change is logged (event id 8).
/// </summary>
public sealed class EchoServerFaults
{
    private readonly FaultPlan _plan;
    private readonly Action<FaultRuleSet> _changed;
    private readonly Func<EchoFault, string?>? _check;

    internal EchoServerFaults(FaultPlan plan, Action<FaultRuleSet> changed, Func<EchoFault, string?>? check = null)
    {
        _plan = plan;
        _changed = changed;
        _check = check;
    }

    /// <summary>
    /// The seed of every random decision of the rules: <see cref="EchoServerOptions.FaultSeed"/>, or the one chosen at
    /// random when the server was made (logged with the rules, so a run can be replayed).
    /// </summary>
    public int Seed => _plan.Seed;

    /// <summary>The rules in force, in order: a snapshot that later changes do not alter.</summary>
    public IReadOnlyList<EchoFault> Rules => _plan.Current.ReadOnlyRules;

    /// <summary>Puts <paramref name="rules"/> in force instead of the current ones.</summary>
    /// <param name="rules">The new rules, in order; may be empty.</param>
    /// <exception cref="ArgumentNullException"><paramref name="rules"/> or one of its rules is <see langword="null"/>.</exception>
    public void Replace(IEnumerable<EchoFault> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        EchoFault[] next = [.. rules];
        if (Array.IndexOf(next, null) is var index and >= 0)
        {
            throw new ArgumentNullException(nameof(rules), $"The fault rule at index {index} is null.");
        }

        foreach (var rule in next)
        {
            Check(rule, nameof(rules));
        }

        Change(_ => next);
    }

    /// <summary>Adds <paramref name="rule"/> after the current rules.</summary>
    /// <param name="rule">The rule.</param>
    /// <exception cref="ArgumentNullException"><paramref name="rule"/> is <see langword="null"/>.</exception>
    public void Add(EchoFault rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Check(rule, nameof(rule));
        Change(current => [.. current, rule]);
    }

    /// <summary>Removes the first rule equal to <paramref name="rule"/> (the same text).</summary>
    /// <param name="rule">The rule.</param>
    /// <returns>Whether a rule was removed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="rule"/> is <see langword="null"/>.</exception>
    public bool Remove(EchoFault rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var removed = false;
        Change(current =>
        {
            var index = Array.IndexOf(current, rule);
            removed = index >= 0;
            return removed ? [.. current[..index], .. current[(index + 1)..]] : current;
        });
        return removed;
    }

    /// <summary>Removes every rule: new connections and datagrams get no faults, existing connections none at their next echo.</summary>
    public void Clear() => Change(_ => []);

    /// <summary>A fault proxy turns away a rule that fits none of its listeners (a datagram rule without UDP, <c>on=tls</c>), which would do nothing.</summary>
    private void Check(EchoFault rule, string parameter)
    {
        if (_check?.Invoke(rule) is { } problem)
        {
            throw new ArgumentException($"The fault rule '{rule}' {problem}.", parameter);
        }
    }

    private void Change(Func<EchoFault[], EchoFault[]> change) => _changed(_plan.Replace(change));
}
