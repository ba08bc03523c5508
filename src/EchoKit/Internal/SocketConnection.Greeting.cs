using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// The TCP/Unix pump's <see cref="ConnectionPhase.Greet"/>: the greeting is written from its own array before the first
/// receive, then the pump goes on as it would have (wait, receive, or echo the bytes that came behind a PROXY header).
/// </summary>
internal sealed partial class SocketConnection
{
    /// <summary>Bytes of the greeting written so far.</summary>
    private int _greetingSent;

    /// <summary>Client bytes that came right behind the PROXY header, at the start of the buffer, to echo after the greeting.</summary>
    private int _afterGreeting;

    /// <summary>The pump's first step once the connection is accepted: its greeting, if it has one (a null test per connection).</summary>
    private ConnectionPhase FirstStepOrGreeting => PendingGreeting is null ? FirstStep : ConnectionPhase.Greet;

    /// <summary>
    /// Part of the greeting was written: write the rest, or go on. A stop decided meanwhile drains now, as after an
    /// echo; greeting bytes are not echo data, so they count in neither <see cref="StreamConnection.BytesSent"/> nor a limit.
    /// </summary>
    private ConnectionPhase OnGreetingSent(int transferred)
    {
        Touch();
        _greetingSent += transferred;
        if (_greetingSent < PendingGreeting!.Length)
        {
            return ConnectionPhase.Greet;
        }

        GreetingDone();
        if (IsClosing)
        {
            return BeginDrain();
        }

        var rest = _afterGreeting;
        if (rest > 0)
        {
            _afterGreeting = 0;
            return Advance(ConnectionPhase.Receive, SocketError.Success, rest);
        }

        return FirstStep;
    }
}
