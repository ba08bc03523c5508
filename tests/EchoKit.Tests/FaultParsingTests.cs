using System.Net;
using System.Net.Sockets;
using EchoKit.Internal;

namespace EchoKit.Tests;

/// <summary>The fault grammar <c>TYPE[:key=value,...]</c>: what it reads, what it writes back, and what it refuses at parse time.</summary>
public class FaultParsingTests
{
    [Theory]
    [InlineData("latency:delay=50ms", "latency:delay=50ms")]
    [InlineData("LATENCY: delay = 0.05 , jitter=10ms", "latency:delay=50ms,jitter=10ms")]
    [InlineData("latency:jitter=1s,delay=2s", "latency:delay=2s,jitter=1s")]
    [InlineData("slice:size=1-16,delay=1ms", "slice:size=1-16,delay=1ms")]
    [InlineData("slice:size=8", "slice:size=8")]
    [InlineData("slice:size=1k-2k", "slice:size=1KiB-2KiB")]
    [InlineData("limit:bytes=4096", "limit:bytes=4KiB")]
    [InlineData("limit:bytes=4KiB,then=close", "limit:bytes=4KiB")]
    [InlineData("limit:bytes=100,then=reset", "limit:bytes=100,then=reset")]
    [InlineData("reset", "reset")]
    [InlineData("reset:after=0", "reset")]
    [InlineData("reset:after=2s", "reset:after=2s")]
    [InlineData("refuse", "refuse")]
    [InlineData("refuse:mode=reset", "refuse")]
    [InlineData("refuse:mode=close", "refuse:mode=close")]
    [InlineData("blackhole", "blackhole")]
    [InlineData("blackhole:close-after=5s", "blackhole:close-after=5s")]
    [InlineData("latency:delay=50ms,toxicity=0.3", "latency:delay=50ms,toxicity=0.3")]
    [InlineData("latency:delay=50ms,toxicity=1", "latency:delay=50ms")]
    [InlineData("reset:after=2s,toxicity=0.1,on=tcp", "reset:after=2s,toxicity=0.1,on=tcp")]
    [InlineData("refuse:on=UNIX", "refuse:on=unix")]
    [InlineData("blackhole:on=127.0.0.1:7007", "blackhole:on=127.0.0.1:7007")]
    [InlineData("blackhole:on=[::1]:7007", "blackhole:on=[::1]:7007")]
    [InlineData("blackhole:on=unix:/tmp/echo.sock", "blackhole:on=unix:/tmp/echo.sock")]
    public void A_rule_is_read_and_written_back_in_its_shortest_form(string text, string canonical)
    {
        var fault = EchoFault.Parse(text);

        Assert.Equal(canonical, fault.ToString());
        Assert.Equal(fault, EchoFault.Parse(fault.ToString()));
        Assert.Equal(fault.GetHashCode(), EchoFault.Parse(canonical).GetHashCode());
        Assert.True(EchoFault.TryParse(text, out var again));
        Assert.Equal(fault, again);
    }

    [Fact]
    public void The_factories_build_the_rules_the_grammar_reads()
    {
        Assert.Equal(EchoFault.Parse("latency:delay=50ms,jitter=10ms"), EchoFault.Latency(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10)));
        Assert.Equal(EchoFault.Parse("slice:size=1-16,delay=1ms"), EchoFault.Slice(1, 16, TimeSpan.FromMilliseconds(1)));
        Assert.Equal(EchoFault.Parse("limit:bytes=4KiB,then=reset"), EchoFault.Limit(4096, EchoFaultClose.Reset));
        Assert.Equal(EchoFault.Parse("reset:after=2s"), EchoFault.Reset(TimeSpan.FromSeconds(2)));
        Assert.Equal(EchoFault.Parse("refuse:mode=close"), EchoFault.Refuse(EchoFaultClose.Close));
        Assert.Equal(EchoFault.Parse("blackhole:close-after=5s"), EchoFault.Blackhole(TimeSpan.FromSeconds(5)));
        Assert.Equal(EchoFault.Parse("reset:toxicity=0.25,on=unix"), EchoFault.Reset().WithToxicity(0.25).WithTarget(EchoTransport.Unix));
        Assert.Equal(
            EchoFault.Parse("refuse:on=127.0.0.1:7007"), EchoFault.Refuse().WithTarget(new IPEndPoint(IPAddress.Loopback, 7007)));

        var latency = EchoFault.Parse("latency:delay=50ms,jitter=10ms,toxicity=0.5,on=tcp");
        Assert.Equal((EchoFaultType.Latency, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10), 0.5, EchoTransport.Tcp),
            (latency.Type, latency.Delay, latency.Jitter, latency.Toxicity, latency.TargetTransport));
        var slice = EchoFault.Parse("slice:size=2-9");
        Assert.Equal((2, 9, TimeSpan.Zero), (slice.MinSize, slice.MaxSize, slice.PieceDelay));
        Assert.Equal(EchoFaultClose.Reset, EchoFault.Refuse().CloseMode);
        Assert.Equal(EchoFaultClose.Close, EchoFault.Limit(1).CloseMode);
        Assert.Null(EchoFault.Blackhole().CloseAfter);
        Assert.Equal(TimeSpan.Zero, EchoFault.Reset().ResetAfter);
    }

    [Theory]
    [InlineData("bandwidth:rate=256KiB", "bandwidth:rate=256KiB")]
    [InlineData("bandwidth:rate=1000", "bandwidth:rate=1000")]
    [InlineData("slow-close:delay=1s", "slow-close:delay=1s")]
    [InlineData("stall-reads", "stall-reads")]
    [InlineData("stall-reads:after=64KiB", "stall-reads:after=64KiB")]
    [InlineData("corrupt", "corrupt")]
    [InlineData("corrupt:every=4KiB", "corrupt")]
    [InlineData("corrupt:every=100", "corrupt:every=100")]
    [InlineData("drop:toxicity=0.1", "drop:toxicity=0.1")]
    [InlineData("duplicate", "duplicate")]
    [InlineData("reorder", "reorder")]
    [InlineData("reorder:hold=100ms", "reorder")]
    [InlineData("reorder:hold=2s,on=udp", "reorder:hold=2s,on=udp")]
    [InlineData("latency:delay=5ms,on=udp", "latency:delay=5ms,on=udp")]
    [InlineData("reset:after=1s,on=tls", "reset:after=1s,on=tls")]
    public void The_rest_of_the_catalog_parses_and_writes_back_with_defaults_left_out(string text, string expected)
    {
        var fault = EchoFault.Parse(text);

        Assert.Equal(expected, fault.ToString());
        Assert.Equal(fault, EchoFault.Parse(fault.ToString()));
    }

    [Fact]
    public void The_factories_of_the_rest_of_the_catalog_match_the_grammar()
    {
        Assert.Equal(EchoFault.Parse("bandwidth:rate=256KiB"), EchoFault.Bandwidth(256 * 1024));
        Assert.Equal(256 * 1024, EchoFault.Bandwidth(256 * 1024).Rate);
        Assert.Equal(EchoFault.Parse("slow-close:delay=1s"), EchoFault.SlowClose(TimeSpan.FromSeconds(1)));
        Assert.Equal(EchoFault.Parse("stall-reads:after=64KiB"), EchoFault.StallReads(64 * 1024));
        Assert.Equal(4096, EchoFault.Corrupt().CorruptEvery);
        Assert.Equal(EchoFault.Parse("drop:toxicity=0.1"), EchoFault.Drop().WithToxicity(0.1));
        Assert.Equal(EchoFault.Parse("duplicate:on=udp"), EchoFault.Duplicate().WithTarget(EchoTransport.Udp));
        Assert.Equal(TimeSpan.FromMilliseconds(100), EchoFault.Reorder().Hold);
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Bandwidth(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.SlowClose(TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Corrupt(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Drop().WithTarget(EchoTransport.Tcp));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Reset().WithTarget(EchoTransport.Udp));
    }

    [Theory]
    [InlineData("", "TYPE[:key=value,...]")]
    [InlineData("lag:delay=1s", "'lag' is not a fault type")]
    [InlineData("latency", "latency needs delay=; the rule is latency:delay=TIME[,jitter=TIME]")]
    [InlineData("latency:delay=fast", "latency: delay='fast' is not a time span")]
    [InlineData("latency:delay=-5ms", "latency: delay='-5ms' is not a time span (a duration cannot be negative)")]
    [InlineData("latency:delay=50ms,speed=2", "latency has no key 'speed'; the rule is latency:delay=TIME[,jitter=TIME]")]
    [InlineData("latency:delay=50ms,delay=60ms", "the key 'delay' is given twice")]
    [InlineData("latency:delay", "'delay' is not key=value")]
    [InlineData("slice:size=0", "slice: size='0' must be at least 1 byte")]
    [InlineData("slice:size=16-1", "a range must go up")]
    [InlineData("slice:size=big", "slice: size='big' is not a size (16) or a range of sizes (1-16)")]
    [InlineData("limit:bytes=0", "limit: bytes='0' must be at least 1 byte")]
    [InlineData("limit:bytes=4KiB,then=explode", "limit: then='explode' is not close or reset; the rule is limit:bytes=SIZE[,then=close|reset]")]
    [InlineData("refuse:mode=maybe", "refuse: mode='maybe' is not close or reset")]
    [InlineData("blackhole:close-after=0", "blackhole: close-after='0' must be more than zero")]
    [InlineData("reset:toxicity=1.5", "reset: toxicity='1.5' is not a fraction from 0 to 1")]
    [InlineData("reset:toxicity=NaN", "reset: toxicity='NaN' is not a fraction from 0 to 1")]
    [InlineData("reset:on=udp", "reset: on='udp' is a transport reset does not fit (reset fits tcp, tls, unix)")]
    [InlineData("drop:on=tcp", "drop: on='tcp' is a transport drop does not fit (drop fits udp)")]
    [InlineData("drop:on=unix:/tmp/x.sock", "drop: on='unix:/tmp/x.sock' is a Unix socket endpoint, which drop does not fit")]
    [InlineData("reset:on=somewhere", "reset: on='somewhere' is not tcp, tls, unix or a valid endpoint")]
    [InlineData("bandwidth", "bandwidth needs rate=; the rule is bandwidth:rate=SIZE (bytes per second)")]
    [InlineData("bandwidth:rate=0", "bandwidth: rate='0' must be at least 1 byte per second")]
    [InlineData("slow-close:delay=0", "slow-close: delay='0' must be more than zero")]
    [InlineData("stall-reads:after=lots", "stall-reads: after='lots' is not a size")]
    [InlineData("corrupt:every=0", "corrupt: every='0' must be at least 1 byte")]
    [InlineData("drop:rate=5", "drop has no key 'rate'; the rule is drop plus toxicity=0..1, on=udp|ENDPOINT and stream=upstream|downstream")]
    [InlineData("reorder:hold=0", "reorder: hold='0' must be more than zero")]
    public void A_bad_rule_fails_at_parse_time_naming_the_rule_the_key_and_the_grammar(string text, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => EchoFault.Parse(text));

        Assert.StartsWith($"'{text}' is not a fault rule: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.False(EchoFault.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Factories_refuse_values_out_of_range()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Latency(TimeSpan.FromMilliseconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Latency(TimeSpan.FromDays(30)));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Slice(0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Slice(4, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Limit(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Blackhole(TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Reset().WithToxicity(-0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => EchoFault.Reset().WithTarget(EchoTransport.Udp));
        Assert.Throws<ArgumentException>(() => EchoFault.Reset().WithTarget(new DnsEndPoint("localhost", 7)));
        Assert.Throws<ArgumentNullException>(() => EchoFault.Parse(null!));
    }

    [Fact]
    public void Validate_names_the_rule_that_is_null_or_applies_to_no_endpoint()
    {
        var options = TestHelpers.LoopbackOptions(o =>
        {
            o.Faults.Add(EchoFault.Parse("latency:delay=1ms"));
            o.Faults.Add(null!);
            o.Faults.Add(EchoFault.Parse("reset:on=unix"));
        });

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Equal("Faults[1]", ex.ParamName);
        Assert.Contains("EchoServerOptions.Faults[1] must not be null.", ex.Message, StringComparison.Ordinal);
        Assert.Contains("EchoServerOptions.Faults[2] ('reset:on=unix') applies to no endpoint: EndPoints has no Unix socket endpoint", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Faults[0]", ex.Message, StringComparison.Ordinal);

        var udpOnly = new EchoServerOptions { UdpEndPoints = { new IPEndPoint(IPAddress.Loopback, 0) }, Faults = { EchoFault.Refuse() } };
        Assert.Contains("EchoServerOptions.Faults[0] ('refuse') applies to no endpoint", Assert.Throws<ArgumentException>(udpOnly.Validate).Message, StringComparison.Ordinal);

        var elsewhere = TestHelpers.LoopbackOptions(o => o.Faults.Add(EchoFault.Parse("refuse:on=127.0.0.1:7")));
        Assert.Contains("no endpoint 127.0.0.1:7", Assert.Throws<ArgumentException>(elsewhere.Validate).Message, StringComparison.Ordinal);

        TestHelpers.LoopbackOptions(o => o.Faults.Add(EchoFault.Parse("refuse:on=127.0.0.1:0"))).Validate();
        TestHelpers.LoopbackOptions(o => o.Faults.Add(EchoFault.Parse("refuse:on=tcp"))).Validate();
    }

    [Fact]
    public void Clone_copies_the_rules_and_the_seed()
    {
        var options = TestHelpers.LoopbackOptions(o =>
        {
            o.Faults.Add(EchoFault.Parse("latency:delay=1ms"));
            o.FaultSeed = 42;
        });

        var copy = options.Clone();
        options.Faults.Clear();

        Assert.Equal([EchoFault.Parse("latency:delay=1ms")], copy.Faults);
        Assert.Equal(42, copy.FaultSeed);
        Assert.Empty(new EchoServerOptions().Faults);
        Assert.Null(new EchoServerOptions().FaultSeed);
    }

    [Fact]
    public void The_unix_endpoint_of_a_rule_is_its_path()
    {
        var fault = EchoFault.Parse("refuse:on=unix:/tmp/echokit-fault.sock");

        Assert.Equal("/tmp/echokit-fault.sock", Assert.IsType<UnixDomainSocketEndPoint>(fault.TargetEndPoint).ToString());
    }

    [Fact]
    public void Toxicity_over_1000_connections_picks_about_its_fraction_across_seeds()
    {
        // A binomial count (1,000 draws of 0.3: σ ≈ 14.5), so a few seeds in 20 fall outside 270–330; the mean cannot.
        var counts = Enumerable.Range(1, 50).Select(seed =>
        {
            var plan = Plan([EchoFault.Parse("latency:delay=1ms,toxicity=0.3")], seed);
            return Enumerable.Range(1, 1000).Count(i => plan(i) is not null);
        }).ToList();

        Assert.All(counts, c => Assert.InRange(c, 230, 370));
        Assert.True(counts.Count(c => c is >= 270 and <= 330) >= 44, string.Join(",", counts));
        Assert.InRange(counts.Average(), 294, 306);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(42)]
    [InlineData(-8)]
    [InlineData(int.MaxValue)]
    public void Toxicity_picks_the_same_for_the_same_seed_and_independently_per_rule(int seed)
    {
        var rules = new[] { EchoFault.Parse("latency:delay=1ms,toxicity=0.3"), EchoFault.Parse("reset:after=1s,toxicity=0.5") };
        var plan = Plan(rules, seed);
        var again = Plan(rules, seed);
        var latencyOnly = Plan(rules[..1], seed);

        var picks = Enumerable.Range(1, 1000).Select(i => Picked(plan, i)).ToList();

        Assert.Equal(picks, Enumerable.Range(1, 1000).Select(i => Picked(again, i)));
        Assert.InRange(picks.Count(p => p.Latency), 230, 370);
        Assert.InRange(picks.Count(p => p.Reset), 430, 570);
        // A rule's draw depends on its own index only: removing the rule after it changes nothing for it.
        Assert.Equal(picks.Select(p => p.Latency), Enumerable.Range(1, 1000).Select(i => Picked(latencyOnly, i).Latency));
        Assert.NotEqual(picks, Enumerable.Range(1, 1000).Select(i => Picked(Plan(rules, seed ^ 1), i)));

        static (bool Latency, bool Reset) Picked(Func<long, ConnectionFaults?> plan, long ordinal)
        {
            var faults = plan(ordinal);
            return (faults?.Rules.Any(r => r.Type == EchoFaultType.Latency) == true, faults?.Rules.Any(r => r.Type == EchoFaultType.Reset) == true);
        }
    }

    /// <summary>The decisions of a server with <paramref name="rules"/> and <paramref name="seed"/> and one TCP listener, by accept ordinal.</summary>
    private static Func<long, ConnectionFaults?> Plan(EchoFault[] rules, int seed)
    {
        var listener = new TcpListenerStandIn();
        var set = new FaultRuleSet(rules, [new FaultRuleSet.Place(listener, EchoTransport.Tcp, new IPEndPoint(IPAddress.Loopback, 7), null)], 0);
        return ordinal => set.Decide(ordinal, seed, listener, liveOnly: false, out _);
    }

    /// <summary>What the rules are matched to: a listener by reference, nothing more.</summary>
    private sealed class TcpListenerStandIn : IEchoListener
    {
        public EchoTransport Transport => EchoTransport.Tcp;

        public System.Diagnostics.TagList Tags => default;
    }

    [Fact]
    public void Jitter_and_slice_sizes_are_the_same_for_the_same_connection_key_and_stay_in_range()
    {
        var rules = new[] { EchoFault.Parse("latency:delay=50ms,jitter=10ms"), EchoFault.Parse("slice:size=3-9") };
        var one = new ConnectionFaults(rules, FaultRandom.ConnectionKey(5, 17));
        var two = new ConnectionFaults(rules, FaultRandom.ConnectionKey(5, 17));
        var other = new ConnectionFaults(rules, FaultRandom.ConnectionKey(5, 18));

        var draws = Enumerable.Range(0, 200).Select(_ => FirstPiece(one)).ToList();

        Assert.Equal(draws, Enumerable.Range(0, 200).Select(_ => FirstPiece(two)));
        Assert.NotEqual(draws, Enumerable.Range(0, 200).Select(_ => FirstPiece(other)));
        var (min, max) = (Stopwatch(40), Stopwatch(60));
        Assert.All(draws, d => Assert.InRange(d.Item1, min - 1, max + 1));
        Assert.All(draws, d => Assert.InRange(d.Item2, 3, 9));
        Assert.Equal([3, 4, 5, 6, 7, 8, 9], draws.Select(d => d.Item2).Distinct().Order());
        one.NextPiece(2, first: false, now: 0);
        Assert.Equal(2, one.PieceLeft);

        static long Stopwatch(int milliseconds) => milliseconds * System.Diagnostics.Stopwatch.Frequency / 1000;

        // The first piece of a 100-byte echo whose bytes arrived at 0: when it is due (latency), and its size (slice).
        static (long Due, int Size) FirstPiece(ConnectionFaults faults) => (faults.NextPiece(100, first: true, now: 0), faults.PieceLeft);
    }
}
