using System.Net;
using System.Runtime.InteropServices;
using EchoKit.Benchmarks.Servers;

namespace EchoKit.Benchmarks;

/// <summary>
/// <c>serve &lt;server&gt; --port N [--upstream 127.0.0.1:M]</c>: runs one server (or proxy to the upstream) on 127.0.0.1:N, prints <c>READY N</c> once it accepts
/// connections, and stops on end of standard input, SIGTERM or SIGINT.
/// </summary>
internal static class ServeCommand
{
    /// <summary>A line on standard input that asks for <see cref="GC.GetTotalAllocatedBytes"/>; answered with <see cref="AllocatedReply"/> and the number.</summary>
    public const string AllocatedRequest = "allocated";

    public const string AllocatedReply = "ALLOCATED";

    public static async Task<int> RunAsync(string server, int port, IPEndPoint? upstream = null)
    {
        IBenchServer instance;
        try
        {
            instance = BenchServers.Create(server, upstream);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }

        await using (instance)
        {
            try
            {
                await instance.StartAsync(port);
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"{server} failed to start on 127.0.0.1:{port}: {ex.Message}");
                return 1;
            }

            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.TrySetResult();
            });
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
            {
                c.Cancel = true;
                stop.TrySetResult();
            });
            _ = Task.Run(async () =>
            {
                // "allocated" asks for the bytes this process has allocated so far (the orchestrator's allocation
                // figures); other input is ignored; end of input (the orchestrator closing our stdin, or its death) means stop.
                using var input = new StreamReader(Console.OpenStandardInput());
                try
                {
                    while (await input.ReadLineAsync() is { } line)
                    {
                        if (line.Trim() == AllocatedRequest)
                        {
                            Console.Out.WriteLine($"{AllocatedReply} {GC.GetTotalAllocatedBytes(precise: true)}");
                            Console.Out.Flush();
                        }
                    }
                }
                catch (IOException)
                {
                }

                stop.TrySetResult();
            });

            Console.Out.WriteLine($"READY {port}");
            Console.Out.Flush();
            await stop.Task;
        }

        return 0;
    }
}
