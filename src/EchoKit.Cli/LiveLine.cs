namespace EchoKit.Cli;

/// <summary>
/// A status line: on a terminal it is redrawn in place (carriage return, padded over the previous text) and other
/// messages are printed above it; otherwise every update is a plain line of its own, for logs and pipes.
/// Thread-safe.
/// </summary>
internal sealed class LiveLine(TextWriter writer, bool interactive, int width, TextWriter? messages = null)
{
    private readonly Lock _lock = new();
    private readonly TextWriter _messages = messages ?? writer;
    private string? _current;
    private int _drawnLength;

    /// <summary>Whether updates redraw in place.</summary>
    public bool Interactive => interactive;

    /// <summary>Shows <paramref name="status"/>: redraws the line on a terminal, prints a line otherwise.</summary>
    public void Update(string status)
    {
        lock (_lock)
        {
            if (!interactive)
            {
                writer.WriteLine(status);
                writer.Flush();
                return;
            }

            if (width > 1 && status.Length >= width)
            {
                status = status[..(width - 1)];
            }

            _current = status;
            Draw();
        }
    }

    /// <summary>Prints <paramref name="message"/> on a line of its own (above the status line on a terminal).</summary>
    public void WriteLine(string message)
    {
        lock (_lock)
        {
            if (interactive && _drawnLength > 0)
            {
                Clear();
                _messages.WriteLine(message);
                _messages.Flush();
                Draw();
            }
            else
            {
                _messages.WriteLine(message);
                _messages.Flush();
            }
        }
    }

    /// <summary>Ends the redrawn line so later output starts on a fresh line; the last status stays visible.</summary>
    public void Finish()
    {
        lock (_lock)
        {
            if (interactive && _drawnLength > 0)
            {
                writer.WriteLine();
                writer.Flush();
            }

            _drawnLength = 0;
            _current = null;
        }
    }

    /// <summary>Removes the redrawn line, leaving the cursor at the start of an empty line.</summary>
    public void Erase()
    {
        lock (_lock)
        {
            if (interactive && _drawnLength > 0)
            {
                Clear();
            }

            _drawnLength = 0;
            _current = null;
        }
    }

    private void Draw()
    {
        if (_current is null)
        {
            return;
        }

        var padding = Math.Max(0, _drawnLength - _current.Length);
        writer.Write('\r');
        writer.Write(_current);
        writer.Write(new string(' ', padding));
        if (padding > 0)
        {
            writer.Write('\r');
            writer.Write(_current);
        }

        writer.Flush();
        _drawnLength = _current.Length;
    }

    private void Clear()
    {
        writer.Write('\r');
        writer.Write(new string(' ', _drawnLength));
        writer.Write('\r');
        writer.Flush();
        _drawnLength = 0;
    }
}
