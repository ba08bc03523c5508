namespace EchoKit.Cli;

/// <summary>
/// Where a command writes and when it should stop: the process's console and signals in <c>Program</c>, captured
/// writers and test-controlled tokens in tests.
/// </summary>
/// <param name="Output">Results, the serve status line.</param>
/// <param name="Error">Errors, logs and the bench progress display.</param>
/// <param name="OutputIsTerminal">Whether <paramref name="Output"/> is a terminal, so a status line may redraw in place.</param>
/// <param name="ErrorIsTerminal">Whether <paramref name="Error"/> is a terminal.</param>
/// <param name="Width">The terminal's width in columns (0 when unknown); a redrawn line is cut to fit.</param>
/// <param name="Stop">Cancelled on the first Ctrl+C or SIGTERM: serve stops gracefully, bench stops early.</param>
/// <param name="Abort">Cancelled on the second one: serve aborts the connections still draining.</param>
internal sealed record CliConsole(
    TextWriter Output,
    TextWriter Error,
    bool OutputIsTerminal = false,
    bool ErrorIsTerminal = false,
    int Width = 0,
    CancellationToken Stop = default,
    CancellationToken Abort = default);
