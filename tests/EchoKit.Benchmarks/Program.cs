// EchoKit side-by-side benchmarks. See docs/BENCHMARKS.md.
//
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- smoke
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- run [--rounds 3] [--duration 5] [--warmup 1]
//       [--scenarios pingpong,rate,throughput,churn,idle,noread] [--servers echokit,kestrel,dotnetty,naive] [--out docs/BENCHMARKS.md]
//       [--idle-connections 10000] [--churn-concurrency 16] [--noread-connections 200] [--noread-mib 16] [--source-addresses 8]
//       [--client dotnet|native]
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- serve <echokit|kestrel|dotnetty|naive> --port N
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- serve <proxy-echokit|proxy-naive> --port N --upstream 127.0.0.1:M
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- faults [--connections 100] [--duration 5] [--json]
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- micro [BenchmarkDotNet arguments, e.g. --filter *RoundTrip*]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using EchoKit.Benchmarks;
using EchoKit.Benchmarks.Faults;
using EchoKit.Benchmarks.Orchestration;
using EchoKit.Benchmarks.Servers;

const string Usage = """
    Usage:
      smoke                                     every scenario for a moment against every server; exit 1 on any failure or byte mismatch
      run [--rounds 3] [--duration 5] [--warmup 1] [--scenarios pingpong,rate,throughput,churn,idle,noread]
          [--servers echokit,kestrel,dotnetty,naive (also: echokit-threadpool, kestrel-inline, echokit-8k, echokit-nowait, echokit-proxy, echokit-1engine, c-epoll; the proxy comparison: direct, proxy-echokit, proxy-haproxy, proxy-naive)] [--out docs/BENCHMARKS.md] [--idle-connections 10000]
          [--churn-concurrency 16] [--noread-connections 200] [--noread-mib 16] [--source-addresses 8] [--client dotnet|native]
                                                the side-by-side comparison; Markdown on stdout (and in --out), progress on stderr;
                                                --client native drives pingpong, rate and throughput with Native/echoload.c (needs gcc);
                                                c-epoll is Native/echoserve.c, a plain C epoll echo server (needs gcc), the floor to compare with;
                                                direct is that server alone, proxy-* are proxies in front of it (one started per measurement;
                                                proxy-haproxy needs /usr/sbin/haproxy), for the added latency and the proxy's CPU
      serve <echokit|kestrel|dotnetty|naive|...> --port N [--upstream 127.0.0.1:M]
                                                one server on 127.0.0.1:N (a proxy relays to the upstream); prints "READY N"; stops on end of stdin or SIGTERM
      faults [--connections 100] [--duration 5] [--toxicity-connections 1000] [--seeds 5] [--parts latency,bandwidth,toxicity,timer] [--json]
                                                fault-rule accuracy against an in-process server (latency, bandwidth, toxicity, timer); Markdown on stdout
      micro [BenchmarkDotNet arguments]         in-process micro-benchmarks (BenchmarkSwitcher), e.g. micro --filter *RoundTrip*
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

switch (args[0])
{
    case "serve":
    {
        // serve NAME --port N [--upstream 127.0.0.1:M]: the upstream only for the proxies, and only on loopback.
        IPEndPoint? upstream = null;
        var port = 0;
        var valid = args.Length is 4 or 6 && args[2] == "--port" &&
            int.TryParse(args[3], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;
        if (valid && args.Length == 6)
        {
            valid = args[4] == "--upstream" && IPEndPoint.TryParse(args[5], out upstream) && IPAddress.IsLoopback(upstream.Address) && upstream.Port != 0;
        }

        if (!valid)
        {
            Console.Error.WriteLine("Usage: serve <server> --port N (1-65535) [--upstream 127.0.0.1:M (proxies only, loopback)]");
            return 2;
        }

        return await ServeCommand.RunAsync(args[1], port, upstream);
    }

    case "run":
    case "smoke":
    {
        var smoke = args[0] == "smoke";
        var settings = smoke ? RunSettings.ForSmoke() : new RunSettings();
        if (settings.Parse(args[1..]) is { } error)
        {
            Console.Error.WriteLine(error);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        settings.CommandLine = "dotnet run -c Release --project tests/EchoKit.Benchmarks -- " + string.Join(' ', args);
        if (settings.Client == LoadClientKind.Native)
        {
            try
            {
                Console.Error.WriteLine($"--client native: compiled {await NativeLoadClient.EnsureBuiltAsync()}");
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
        }

        // The C servers, as servers or as the upstream of a proxy, are compiled before the first measurement; a missing
        // gcc or haproxy fails the run here rather than every round of it.
        var nativeServers = settings.Servers.Concat(settings.Servers.Select(BenchServers.UpstreamOf).OfType<string>()).Where(BenchServers.IsNative).Distinct();
        try
        {
            foreach (var server in nativeServers)
            {
                Console.Error.WriteLine($"{server}: compiled {await ServerProcess.EnsureNativeBuiltAsync(server)}");
            }

            if (settings.Servers.Any(BenchServers.IsHAProxy))
            {
                Console.Error.WriteLine($"{BenchServers.ProxyHAProxy}: {await HAProxy.VersionAsync()}");
            }
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }

        Report.CaptureSource();
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var runner = new Runner(settings);
        await runner.RunAsync();
        var report = Report.Build(settings, runner, started, clock.Elapsed);
        Console.WriteLine(report);
        if (settings.Out is { } path)
        {
            Report.WriteTo(path, report);
            Console.Error.WriteLine($"Wrote {Path.GetFullPath(path)}");
        }

        var failures = runner.Failures().ToList();
        foreach (var failure in failures)
        {
            Console.Error.WriteLine("FAILED: " + failure);
        }

        Console.Error.WriteLine(failures.Count == 0
            ? $"{args[0]}: all {runner.Results.Values.Sum(l => l.Count)} runs passed in {clock.Elapsed.TotalSeconds:0.0} s."
            : $"{args[0]}: {failures.Count} run(s) failed.");
        return failures.Count == 0 ? 0 : 1;
    }

    case "faults":
    {
        var faultSettings = new FaultAccuracySettings();
        if (faultSettings.Parse(args[1..]) is { } faultError)
        {
            Console.Error.WriteLine(faultError);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        return await FaultAccuracy.RunAsync(faultSettings, "dotnet run -c Release --project tests/EchoKit.Benchmarks -- " + string.Join(' ', args));
    }

    case "micro":
    {
        // In-process (BenchmarkDotNet's --inProcess): no generated project to build, which would inherit this
        // repository's analyzers. Without --filter BenchmarkSwitcher would ask on the console: run everything.
        var microArgs = args[1..].ToList();
        if (!microArgs.Any(a => a is "--inProcess" or "-i"))
        {
            microArgs.Add("--inProcess");
        }

        if (!microArgs.Any(a => a is "--filter" or "-f" or "--list" or "--help" or "-h"))
        {
            microArgs.AddRange(["--filter", "*"]);
        }

        var config = DefaultConfig.Instance.WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(ServeCommand).Assembly).Run([.. microArgs], config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    default:
        Console.Error.WriteLine($"Unknown command '{args[0]}'.");
        Console.Error.WriteLine(Usage);
        return 2;
}
