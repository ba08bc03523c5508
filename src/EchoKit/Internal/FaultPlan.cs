using System.Net;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// The fault rules of one server, their seed and the optional selector. The rules live in an immutable
/// <see cref="FaultRuleSet"/> that <see cref="Replace"/> swaps whole, so an accept or a datagram reads one consistent
/// set with one volatile read, and a server without rules pays that read and a length test.
/// </summary>
internal sealed class FaultPlan
{
    private readonly Lock _gate = new();
    private readonly List<FaultRuleSet.Place> _places = [];
    private readonly Func<FaultSelectionContext, IEnumerable<EchoFault>?>? _selector;
    private readonly ILogger _logger;
    private FaultRuleSet _current;

    public FaultPlan(IEnumerable<EchoFault> rules, int seed, Func<FaultSelectionContext, IEnumerable<EchoFault>?>? selector, ILogger logger)
    {
        Seed = seed;
        _logger = logger;
        _selector = selector;
        _current = new FaultRuleSet([.. rules], _places, version: 0);
    }

    public int Seed { get; }

    /// <summary>The rules in force; replaced whole, never changed in place.</summary>
    public FaultRuleSet Current => Volatile.Read(ref _current);

    public bool HasSelector => _selector is not null;

    /// <summary>Notes a listener (its transport, bound and configured endpoint) so rules with <c>on=</c> can be matched to it once per rule set.</summary>
    public void AddListener(IEchoListener listener, EchoTransport transport, EndPoint bound, EndPoint? configured, FaultDirection? stream = null)
    {
        lock (_gate)
        {
            _places.Add(new FaultRuleSet.Place(listener, transport, bound, configured, stream));
            Volatile.Write(ref _current, new FaultRuleSet(_current.Rules, _places, _current.Version));
        }
    }

    /// <summary>Puts in force the rules <paramref name="change"/> makes of the current ones; returns the new set.</summary>
    public FaultRuleSet Replace(Func<EchoFault[], EchoFault[]> change)
    {
        lock (_gate)
        {
            var next = new FaultRuleSet(change(_current.Rules), _places, _current.Version + 1);
            Volatile.Write(ref _current, next);
            return next;
        }
    }

    /// <summary>
    /// The selector's answer for connection <paramref name="id"/>, asked once per connection (a proxy's two relays share
    /// it): <see cref="Selection.None"/> without a selector or when it answers <see langword="null"/> (the server's rules
    /// apply), <see cref="Selection.Failed"/> when it throws (logged; no faults).
    /// </summary>
    public Selection Select(long id, EchoListener listener, EndPoint? local, EndPoint? remote)
    {
        if (_selector is null)
        {
            return Selection.None;
        }

        try
        {
            return _selector(new FaultSelectionContext(id, listener.Transport, local, remote)) is { } chosen
                ? new Selection(new FaultRuleSet([.. chosen.Where(r => r is not null)], _places, version: -1), Failed: false)
                : Selection.None;
        }
        catch (Exception ex)
        {
            EchoServerLog.FaultSelectorFailed(_logger, ex, id);
            return new Selection(null, Failed: true);
        }
    }

    /// <summary>
    /// The faults of stream connection <paramref name="id"/> (its accept ordinal) on <paramref name="listener"/> given
    /// the selector's answer, or <see langword="null"/> when none applies: the selector's rules when it answered, else the
    /// current rules. A proxy's relay passes its <paramref name="stream"/> (see <see cref="FaultRuleSet.Decide"/>).
    /// </summary>
    public ConnectionFaults? DecideWith(Selection selection, long id, EchoListener listener, FaultDirection? stream)
    {
        if (selection.Failed)
        {
            return null;
        }

        if (selection.Rules is not { } own)
        {
            var set = Current;
            return set.IsEmpty ? null : set.Decide(id, Seed, listener, liveOnly: false, out _, stream);
        }

        var faults = own.Decide(id, Seed, listener, liveOnly: false, out _, stream);
        if (faults is not null)
        {
            faults.FromSelector = true;
        }

        return faults;
    }

    /// <summary>What a selector answered for one connection: its own rules, or none (the server's rules), or a failure.</summary>
    public readonly record struct Selection(FaultRuleSet? Rules, bool Failed)
    {
        public static Selection None => default;
    }
}
