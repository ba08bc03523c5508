using System.Text.Json;

namespace EchoKit.Cli.Tests;

/// <summary>Each Toxiproxy toxic becomes the EchoKit rule docs/PROXY.md's table names, in Toxiproxy's units.</summary>
public class ToxicMappingTests
{
    public static TheoryData<string, string?> Toxics => new()
    {
        { """{"type":"latency","attributes":{"latency":50,"jitter":10}}""", EchoFault.Latency(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10)).ToString() },
        { """{"type":"bandwidth","stream":"upstream","attributes":{"rate":100}}""", EchoFault.Bandwidth(100_000).WithStream(FaultDirection.Upstream).ToString() },
        { """{"type":"bandwidth","attributes":{"rate":0}}""", null },
        { """{"type":"slow_close","attributes":{"delay":200}}""", EchoFault.SlowClose(TimeSpan.FromMilliseconds(200)).ToString() },
        { """{"type":"timeout","attributes":{"timeout":0}}""", EchoFault.Blackhole().ToString() },
        { """{"type":"timeout","attributes":{"timeout":1500}}""", EchoFault.Blackhole(TimeSpan.FromMilliseconds(1500)).ToString() },
        { """{"type":"reset_peer","attributes":{"timeout":20}}""", EchoFault.Reset(TimeSpan.FromMilliseconds(20)).ToString() },
        { """{"type":"slicer","attributes":{"average_size":10,"size_variation":4,"delay":500}}""", EchoFault.Slice(6, 14, TimeSpan.FromMicroseconds(500)).ToString() },
        { """{"type":"slicer","attributes":{"average_size":2,"size_variation":5}}""", EchoFault.Slice(1, 7).ToString() },
        { """{"type":"limit_data","toxicity":0.25,"attributes":{"bytes":4096}}""", EchoFault.Limit(4096).WithToxicity(0.25).ToString() },
        { """{"type":"corrupt","attributes":{"every":"1KiB"}}""", EchoFault.Corrupt(1024).ToString() },
        { """{"type":"stall-reads","stream":"upstream","attributes":{"after":64}}""", EchoFault.StallReads(64).WithStream(FaultDirection.Upstream).ToString() },
        { """{"type":"refuse"}""", EchoFault.Refuse().ToString() },
        { """{"type":"echokit:latency","attributes":{"delay":"1.5ms"}}""", EchoFault.Latency(TimeSpan.FromMilliseconds(1.5)).ToString() },
    };

    [Theory]
    [MemberData(nameof(Toxics))]
    public void A_toxic_becomes_its_EchoKit_rule(string body, string? rule)
    {
        using var json = JsonDocument.Parse(body);

        var toxic = ToxiproxyToxic.Create(json.RootElement);

        Assert.Equal(rule, toxic.Rule?.ToString());
    }

    [Fact]
    public void A_rule_given_to_fault_shows_as_a_toxic_of_its_EchoKit_type()
    {
        var toxic = ToxiproxyToxic.FromRule(EchoFault.Parse("corrupt:every=1KiB,toxicity=0.5,stream=upstream"), "corrupt_upstream");

        Assert.Equal("""{"attributes":{"every":"1KiB"},"name":"corrupt_upstream","type":"corrupt","stream":"upstream","toxicity":0.5}""", toxic.ToJson().ToJsonString());
    }
}
