using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// Writes the server's log messages (<c>--log-level</c>) as <c>warn: EchoKit.EchoServer: message</c> lines through
/// the status line, so a redrawn status line and log lines do not garble each other.
/// </summary>
internal sealed class CliLoggerProvider(LiveLine line) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new CliLogger(line, categoryName);

    public void Dispose()
    {
    }

    private sealed class CliLogger(LiveLine line, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var message = $"{level}: {category}: {formatter(state, exception)}";
            line.WriteLine(exception is null ? message : message + Environment.NewLine + exception);
        }
    }
}
