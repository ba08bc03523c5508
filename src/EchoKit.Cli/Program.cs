// echokit: run an echo server (serve) or load one (bench). See docs/CLI.md.
using System.Runtime.InteropServices;
using EchoKit.Cli;

using var stop = new CancellationTokenSource();
using var abort = new CancellationTokenSource();
var signals = 0;

// The first Ctrl+C or SIGTERM asks for a graceful stop, the second aborts, the third kills the process.
void OnSignal(PosixSignalContext context)
{
    var count = Interlocked.Increment(ref signals);
    context.Cancel = count < 3;
    (count == 1 ? stop : abort).Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

var width = 0;
if (!Console.IsOutputRedirected || !Console.IsErrorRedirected)
{
    try
    {
        width = Console.WindowWidth;
    }
    catch (IOException)
    {
        // No terminal after all: lines are not cut.
    }
}

var console = new CliConsole(
    Console.Out, Console.Error, !Console.IsOutputRedirected, !Console.IsErrorRedirected, width, stop.Token, abort.Token);
return await EchoKitCommandLine.InvokeAsync(args, console);
