namespace EchoKit.LoadGenerator.Internal;

/// <summary>The counters of one run that <see cref="LoadProgress"/> reads; each property sums per-connection fields.</summary>
internal interface ILiveLoadCounters
{
    int MessageSize { get; }

    long Messages { get; }

    long Sent { get; }

    long Errors { get; }

    long Lost { get; }
}

/// <summary>Live counters of a TCP echo run: connect errors, then the connections once they are open.</summary>
internal sealed class TcpLiveCounters(int messageSize, ErrorCollector connectErrors) : ILiveLoadCounters
{
    private volatile EchoLoadConnection[] _connections = [];

    public int MessageSize => messageSize;

    public long Messages
    {
        get
        {
            long sum = 0;
            foreach (var connection in _connections)
            {
                sum += connection.VerifiedSoFar;
            }

            return sum;
        }
    }

    public long Sent => Messages;

    public long Errors
    {
        get
        {
            var failed = connectErrors.Count;
            foreach (var connection in _connections)
            {
                if (connection.Error is not null)
                {
                    failed++;
                }
            }

            return failed;
        }
    }

    public long Lost => 0;

    public void SetConnections(IEnumerable<EchoLoadConnection> connections) => _connections = [.. connections];
}

/// <summary>Live counters of a UDP echo run: flows that could not be opened, then the open flows.</summary>
internal sealed class UdpLiveCounters(int messageSize, ErrorCollector openErrors) : ILiveLoadCounters
{
    private volatile UdpLoadFlow[] _flows = [];

    public int MessageSize => messageSize;

    public long Messages => Sum(static f => f.VerifiedSoFar);

    public long Sent => Sum(static f => f.SentSoFar);

    public long Errors => openErrors.Count + Sum(static f => f.Error is null ? 0 : 1);

    public long Lost => Sum(static f => f.LostSoFar);

    public void SetFlows(IEnumerable<UdpLoadFlow> flows) => _flows = [.. flows];

    private long Sum(Func<UdpLoadFlow, long> counter)
    {
        long sum = 0;
        foreach (var flow in _flows)
        {
            sum += counter(flow);
        }

        return sum;
    }
}
