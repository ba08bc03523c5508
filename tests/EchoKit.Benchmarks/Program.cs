// EchoKit side-by-side benchmarks. See docs/BENCHMARKS.md.
//
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- smoke
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- run [--rounds 3] [--duration 5] [--warmup 1]
//       [--scenarios pingpong,rate,throughput,churn,idle,noread] [--servers echokit,kestrel,dotnetty,naive] [--out docs/BENCHMARKS.md]
//       [--idle-connections 10000] [--churn-concurrency 16] [--noread-connections 200] [--noread-mib 16] [--source-addresses 8]
//       [--client dotnet|native]
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- serve <echokit|kestrel|dotnetty|naive> --port N
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- faults [--connections 100] [--duration 5] [--json]
//   dotnet run -c Release --project tests/EchoKit.Benchmarks -- micro [BenchmarkDotNet arguments, e.g. --filter *RoundTrip*]
using System.Diagnostics;
using System.Globalization;
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
          [--servers echokit,kestrel,dotnetty,naive (also: echokit-threadpool, kestrel-inline, echokit-8k, echokit-nowait, echokit-proxy, echokit-1engine, c-epoll)] [--out docs/BENCHMARKS.md] [--idle-connections 10000]
          [--churn-concurrency 16] [--noread-connections 200] [--noread-mib 16] [--source-addresses 8] [--client dotnet|native]
                                                the side-by-side comparison; Markdown on stdout (and in --out), progress on stderr;
                                                --client native drives pingpong, rate and throughput with Native/echoload.c (needs gcc);
                                                c-epoll is Native/echoserve.c, a plain C epoll echo server (needs gcc), the floor to compare with
      serve <echokit|kestrel|dotnetty|naive> --port N
                                                one server on 127.0.0.1:N; prints "READY N"; stops on end of stdin or SIGTERM
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
        if (args.Length != 4 || args[2] != "--port" || !int.TryParse(args[3], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            Console.Error.WriteLine("Usage: serve <echokit|kestrel|dotnetty|naive> --port N (1-65535)");
            return 2;
        }

        return await ServeCommand.RunAsync(args[1], port);
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

        foreach (var server in settings.Servers.Where(BenchServers.IsNative))
        {
            try
            {
                Console.Error.WriteLine($"{server}: compiled {await ServerProcess.EnsureNativeBuiltAsync(server)}");
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
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
