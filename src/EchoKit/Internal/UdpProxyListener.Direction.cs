using System.Diagnostics;

namespace EchoKit.Internal;

internal sealed partial class UdpProxyListener
{
    /// <summary>
    /// One direction of the UDP proxy: its fault path (matched to its own rules, <see cref="FaultPlan.AddListener"/>
    /// with its stream) and its pool of datagram holders. It is the <see cref="IEchoListener"/> the rules are fitted to.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The semaphore's wait handle is never made (AvailableWaitHandle is not read), so it holds nothing to dispose; disposing it would race with a late Return.")]
    public sealed class Direction : IEchoListener
    {
        private readonly UdpProxyListener _owner;
        private readonly Stack<UdpProxyDatagram> _free = new();
        private readonly SemaphoreSlim _available = new(HoldersPerDirection, HoldersPerDirection);
        private readonly Lock _gate = new();

        // Each session's loop forwards downstream on its own thread; the path takes a rule set and decides one datagram at a time.
        private readonly Lock _forwarding = new();
        private FaultRuleSet? _taken;

        public Direction(UdpProxyListener owner, FaultDirection stream, TagList tags, int seed, int trackedSources)
        {
            _owner = owner;
            Stream = stream;
            Tags = tags;
            Faults = new UdpFaultPath(this, seed, HoldersPerDirection, trackedSources, owner._context.Metrics);
        }

        public FaultDirection Stream { get; }

        public EchoTransport Transport => EchoTransport.Udp;

        public TagList Tags { get; }

        public UdpFaultPath Faults { get; }

        /// <summary>A free holder, waiting while every one is held back by a fault; <see langword="null"/> once closed.</summary>
        public async ValueTask<UdpProxyDatagram?> RentAsync(CancellationToken closed)
        {
            try
            {
                await _available.WaitAsync(closed).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            lock (_gate)
            {
                return _free.TryPop(out var datagram) ? datagram : new UdpProxyDatagram(this, _owner._context.Options.Udp.MaxDatagramSize);
            }
        }

        /// <summary>A datagram of this direction dropped by a rule (or held when the proxy stopped).</summary>
        public void CountDropped() => _owner.CountFaultDropped();

        public void Return(UdpProxyDatagram datagram)
        {
            datagram.Session = null;
            lock (_gate)
            {
                _free.Push(datagram);
            }

            _available.Release();
        }

        /// <summary>Sends a received datagram on to its session's other side, through this direction's rules.</summary>
        public void Forward(UdpProxyDatagram datagram, Session session, int length)
        {
            datagram.Session = session;
            datagram.Length = length;
            var set = _owner._context.Faults.Current;
            UdpFaultOutcome outcome;
            int copies;
            IUdpHeldDatagram? after;
            if (set.IsEmpty && _taken is null)
            {
                // The usual proxy without rules: no lock, no path.
                outcome = UdpFaultOutcome.Send;
                copies = 1;
                after = null;
            }
            else
            {
                lock (_forwarding)
                {
                    if (!ReferenceEquals(set, _taken))
                    {
                        Faults.Take(set);
                        _taken = set;
                    }

                    if (Faults.HasRules)
                    {
                        outcome = Faults.OnDatagram(datagram, session.ClientKey, session.ClientPort, datagram.Payload, Stopwatch.GetTimestamp(), out copies, out after);
                    }
                    else
                    {
                        outcome = UdpFaultOutcome.Send;
                        copies = 1;
                        after = null;
                    }
                }
            }

            switch (outcome)
            {
                case UdpFaultOutcome.Send:
                    datagram.Send(copies);
                    Return(datagram);
                    after?.Release();
                    break;
                case UdpFaultOutcome.Held:
                    // The path owns it until it releases it (or drops it at stop).
                    break;
                case UdpFaultOutcome.Dropped:
                    CountDropped();
                    Return(datagram);
                    break;
                default:
                    Return(datagram);
                    break;
            }
        }
    }
}
