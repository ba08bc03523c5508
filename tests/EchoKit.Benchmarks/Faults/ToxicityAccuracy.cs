using System.Net.Sockets;

namespace EchoKit.Benchmarks.Faults;

/// <summary>One toxicity count: how many of the connections, opened one after another with one seed, got the rule.</summary>
internal sealed record ToxicityResult(string Rule, int Seed, int Connections, int Faulted, int Low, int High, bool Met, bool? Replayed);

/// <summary>
/// Toxicity accuracy: connections opened one after another (so their ordinals are 1, 2, 3, ...), each doing one
/// 1-byte echo so the server surely accepted it, counting those whose <see cref="ConnectionAcceptedEventArgs.Faults"/>
/// is not empty. The first seed runs twice: the same seed must pick the same connections.
/// </summary>
internal static class ToxicityAccuracy
{
    private const string Rule = "latency:delay=0s,toxicity=0.3";

    public static async Task<List<ToxicityResult>> RunAsync(FaultAccuracySettings settings)
    {
        var results = new List<ToxicityResult>();
        var n = settings.ToxicityConnections;

        // The 270-330 for 1,000, scaled: ±10 % of the expected 30 %.
        var low = (int)Math.Round(n * 0.27);
        var high = (int)Math.Round(n * 0.33);
        for (var seed = 1; seed <= settings.Seeds; seed++)
        {
            Console.Error.WriteLine($"toxicity: seed {seed}");
            var picked = await CountAsync(seed, n);
            bool? replayed = null;
            if (seed == 1)
            {
                replayed = (await CountAsync(seed, n)).SequenceEqual(picked);
            }

            results.Add(new ToxicityResult(Rule, seed, n, picked.Length, low, high, picked.Length >= low && picked.Length <= high, replayed));
        }

        return results;
    }

    /// <summary>The ids of the connections that got the rule, in order.</summary>
    private static async Task<long[]> CountAsync(int seed, int connections)
    {
        var picked = new List<long>();
        var accepted = 0;
        var (server, endPoint) = await AccuracyServer.StartAsync(o =>
        {
            o.FaultSeed = seed;
            o.Faults.Add(EchoFault.Parse(Rule));
        });
        await using (server)
        {
            server.ConnectionAccepted += (_, e) =>
            {
                lock (picked)
                {
                    accepted++;
                    if (e.Faults.Count > 0)
                    {
                        picked.Add(e.ConnectionId);
                    }
                }
            };

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var echo = new byte[1];
            for (var i = 0; i < connections; i++)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(endPoint, timeout.Token);
                await socket.SendAsync(new byte[] { 42 }, SocketFlags.None, timeout.Token);
                if (await socket.ReceiveAsync(echo, SocketFlags.None, timeout.Token) != 1)
                {
                    throw new IOException("No echo.");
                }
            }

            // Each was echoed, so each was accepted; the event may still be on its way for the last ones.
            for (var wait = 0; wait < 100 && Volatile.Read(ref accepted) < connections; wait++)
            {
                await Task.Delay(50);
            }

            lock (picked)
            {
                if (accepted != connections)
                {
                    throw new InvalidOperationException($"Seed {seed}: {accepted} of {connections} connections were reported accepted.");
                }

                return [.. picked.Order()];
            }
        }
    }
}
