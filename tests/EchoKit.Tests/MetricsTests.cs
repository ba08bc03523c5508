using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace EchoKit.Tests;

public class MetricsTests
{
    [Fact]
    public async Task Instruments_follow_kestrel_naming_units_and_tags()
    {
        using var meterFactory = new TestMeterFactory();
        using var active = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.active_connections");
        using var duration = new MetricCollector<double>(meterFactory, "EchoKit", "echokit.connection.duration");
        using var rejected = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.rejected_connections");
        using var received = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.bytes_received");
        using var sent = new MetricCollector<long>(meterFactory, "EchoKit", "echokit.bytes_sent");
        await using var server = new EchoServer(TestHelpers.LoopbackOptions(o => o.MaxConnections = 1), meterFactory: meterFactory);
        await server.StartAsync();
        var port = server.EndPoint().Port;

        using (var client = await TestHelpers.ConnectAsync(server.EndPoint()))
        {
            await client.EchoAsync(new byte[300]);
            Assert.Equal(1, active.GetMeasurementSnapshot().Sum(m => m.Value));
            using var over = await TestHelpers.ConnectAsync(server.EndPoint());
            Assert.Empty(await over.ReceiveToEndAsync());
            await TestHelpers.WaitUntilAsync(() => rejected.GetMeasurementSnapshot().Count == 1, "a rejected measurement");

            received.RecordObservableInstruments();
            sent.RecordObservableInstruments();
            Assert.Equal(300, received.LastMeasurement!.Value);
            Assert.Equal(300, sent.LastMeasurement!.Value);
            client.LingerState = new LingerOption(true, 0);
        }

        await TestHelpers.WaitUntilAsync(() => duration.GetMeasurementSnapshot().Count == 1, "a duration measurement");
        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));

        var d = duration.LastMeasurement!;
        Assert.Equal("s", duration.Instrument!.Unit);
        Assert.Equal("{connection}", active.Instrument!.Unit);
        Assert.Equal("{connection}", rejected.Instrument!.Unit);
        Assert.Equal("By", received.Instrument!.Unit);
        Assert.Equal("127.0.0.1", d.Tags["server.address"]);
        Assert.Equal(port, d.Tags["server.port"]);
        Assert.Equal("tcp", d.Tags["network.transport"]);
        Assert.Equal("ipv4", d.Tags["network.type"]);
        Assert.Equal("connection_reset", d.Tags["error.type"]);
        Assert.True(d.Value > 0);
        Assert.Equal(port, rejected.LastMeasurement!.Tags["server.port"]);
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
            lock (_meters)
            {
                _meters.Add(meter);
            }

            return meter;
        }

        public void Dispose()
        {
            lock (_meters)
            {
                _meters.ForEach(m => m.Dispose());
            }
        }
    }
}
