using System.Text;
using System.Text.RegularExpressions;

namespace EchoKit.Cli.Tests;

/// <summary>A <see cref="TextWriter"/> that many threads may write to while a test reads what was written so far.</summary>
internal sealed class CapturedWriter : TextWriter
{
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();

    public override Encoding Encoding => Encoding.UTF8;

    public string Text
    {
        get
        {
            lock (_lock)
            {
                return _text.ToString();
            }
        }
    }

    public override void Write(char value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (_lock)
        {
            _text.Append(buffer, index, count);
        }
    }

    public override string ToString() => Text;
}

/// <summary>One in-process run of the CLI with captured output and a stop signal the test controls.</summary>
internal sealed partial class CliRun : IDisposable
{
    /// <summary>The upper bound for any single wait in these tests; nothing hangs past it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();

    private CliRun(string[] args, bool terminal)
    {
        var console = new CliConsole(Output, Error, terminal, terminal, 0, _stop.Token, _abort.Token);
        Completion = Task.Run(() => EchoKitCommandLine.InvokeAsync(args, console));
    }

    public CapturedWriter Output { get; } = new();

    public CapturedWriter Error { get; } = new();

    public Task<int> Completion { get; }

    /// <summary>Starts <c>echokit args</c>; it runs until it returns or <see cref="StopAsync"/>.</summary>
    public static CliRun Start(params string[] args) => new(args, terminal: false);

    /// <summary>Starts <c>echokit args</c> as if its output were a terminal.</summary>
    public static CliRun StartOnTerminal(params string[] args) => new(args, terminal: true);

    /// <summary>Runs <c>echokit args</c> to completion.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var run = Start(args);
        var exitCode = await run.Completion.WaitAsync(Timeout);
        return (exitCode, run.Output.Text, run.Error.Text);
    }

    /// <summary>Waits for the "Listening on tcp|udp|tls ADDRESS:PORT" line of a serve and returns that endpoint.</summary>
    public async Task<string> WaitForListenerAsync(string transport = "tcp")
    {
        var pattern = new Regex($@"^Listening on {transport} (\S+)$", RegexOptions.Multiline);
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (pattern.Match(Output.Text) is { Success: true } match)
            {
                return match.Groups[1].Value;
            }

            if (Completion.IsCompleted)
            {
                throw new InvalidOperationException($"echokit exited with {await Completion} before listening.\nstdout:\n{Output.Text}\nstderr:\n{Error.Text}");
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"echokit did not listen in time.\nstdout:\n{Output.Text}\nstderr:\n{Error.Text}");
    }

    /// <summary>Sends the equivalent of one Ctrl+C (graceful stop) and returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        return await Completion.WaitAsync(Timeout);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _abort.Cancel();
        try
        {
            Completion.Wait(Timeout);
        }
        catch (AggregateException)
        {
            // Reported by the test that awaited it.
        }

        _stop.Dispose();
        _abort.Dispose();
    }
}
