using System.Globalization;
using EchoKit.Benchmarks.Servers;

namespace EchoKit.Benchmarks.Orchestration;

/// <summary>
/// Runs every selected scenario, round and server (each server in its own process; a proxy with its own upstream
/// process, started first) and collects measurements. Even rounds take the servers in reverse order, so a drift in the
/// machine's load (colleagues' builds, thermal state) does not always favour the same server.
/// </summary>
internal sealed class Runner(RunSettings settings)
{
    public Dictionary<(string Scenario, string Server), List<Measurement>> Results { get; } = [];

    public async Task RunAsync()
    {
        foreach (var scenario in Scenarios.All.Where(s => settings.Scenarios.Contains(s.Name)))
        {
            for (var round = 1; round <= settings.Rounds; round++)
            {
                var order = round % 2 == 1 ? settings.Servers : Enumerable.Reverse(settings.Servers);
                foreach (var server in order)
                {
                    var m = await RunOneAsync(scenario, server);
                    if (!Results.TryGetValue((scenario.Name, server), out var list))
                    {
                        Results[(scenario.Name, server)] = list = [];
                    }

                    list.Add(m);
                    Log($"[{scenario.Name}] round {round}/{settings.Rounds} {server,-8}: {Describe(scenario, m)}");
                }
            }
        }
    }

    public IEnumerable<string> Failures()
    {
        foreach (var ((scenario, server), list) in Results)
        {
            for (var i = 0; i < list.Count; i++)
            {
                var m = list[i];
                if (!m.Ok)
                {
                    yield return $"{scenario} / {server} / round {i + 1}: " +
                        (m.Failure ?? $"{m.Errors} error(s), {m.Mismatches} mismatched message(s)") +
                        (m.Note is null ? string.Empty : $" ({m.Note})");
                }
            }
        }
    }

    private static void Log(string line) => Console.Error.WriteLine(line);

    private static string Describe(Scenario scenario, Measurement m)
    {
        var values = string.Join(", ", scenario.Metrics
            .Where(d => m.Values.ContainsKey(d.Key))
            .Select(d => $"{d.Header} {m.Values[d.Key].ToString(d.Format, CultureInfo.InvariantCulture)}"));
        var status = m.Ok ? "ok" : $"FAILED: {m.Failure ?? $"{m.Errors} error(s), {m.Mismatches} mismatch(es)"}{(m.Note is null ? string.Empty : $" ({m.Note})")}";
        return $"{values} | {status}";
    }

    private async Task<Measurement> RunOneAsync(Scenario scenario, string server)
    {
        // A proxy's upstream: its own process, measured by nobody, stopped after the proxy.
        ServerProcess? upstream = null;
        try
        {
            if (BenchServers.UpstreamOf(server) is { } upstreamName)
            {
                upstream = await ServerProcess.StartAsync(upstreamName);
            }

            var m = await RunOneAsync(scenario, server, upstream);
            if (upstream is { Crashed: true })
            {
                m.Failure ??= $"the upstream ({upstream.Name}) exited during the run; stderr: {upstream.StandardErrorTail}";
            }

            return m;
        }
        catch (InvalidOperationException ex)
        {
            return new Measurement { Failure = $"upstream: {ex.Message}" };
        }
        finally
        {
            if (upstream is not null)
            {
                await upstream.DisposeAsync();
            }
        }
    }

    private async Task<Measurement> RunOneAsync(Scenario scenario, string server, ServerProcess? upstream)
    {
        ServerProcess process;
        try
        {
            process = await ServerProcess.StartAsync(server, upstream?.EndPoint);
        }
        catch (InvalidOperationException ex)
        {
            return new Measurement { Failure = ex.Message };
        }

        Measurement m;
        await using (process)
        {
            var hwmReset = ProcFs.ResetPeakRss(process.Pid);
            var sampler = new RssSampler(process.Pid, TimeSpan.FromMilliseconds(20));
            try
            {
                m = await scenario.RunAsync(new ScenarioContext(process, settings));
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or ArgumentException or System.Net.Sockets.SocketException)
            {
                m = new Measurement { Failure = $"{ex.GetType().Name}: {ex.Message}" };
            }
            finally
            {
                await sampler.DisposeAsync();
            }

            var peak = sampler.MaxBytes;
            if (hwmReset)
            {
                peak = Math.Max(peak, ProcFs.PeakRssBytes(process.Pid));
            }

            m.Values[Scenarios.PeakRss] = peak / 1048576.0;
            if (process.Crashed)
            {
                m.Failure ??= $"the server process exited during the run; stderr: {process.StandardErrorTail}";
            }

            var stopNote = await process.StopAsync();
            if (stopNote is not null)
            {
                m.Note = m.Note is null ? $"stop: {stopNote}" : $"{m.Note}; stop: {stopNote}";
            }
        }

        return m;
    }
}
