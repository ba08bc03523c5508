namespace EchoKit.Internal;

/// <summary>
/// <see cref="EchoServerOptions.Greeting"/>: expanded once a connection is accepted (after its PROXY header, so
/// <c>{remote}</c> is the real client), written by the pump (<see cref="ConnectionPhase.Greet"/>) from its own array
/// before the first receive (after the TLS handshake); then the pump goes on as it would have. A server without a greeting pays
/// a few null tests per connection and nothing per message.
/// </summary>
internal sealed partial class StreamConnection
{
    /// <summary>The expanded greeting while it is to be written (its own array, not the pooled buffer); null after.</summary>
    private byte[]? PendingGreeting { get; set; }

    /// <summary>Expands the greeting for this connection, if the server has one; returns whether it has.</summary>
    private bool PrepareGreeting()
    {
        var options = Context.Options;
        if (options.Greeting is not { } template)
        {
            return false;
        }

        PendingGreeting = GreetingText.Expand(template, options.InstanceName, LocalEndPoint, RemoteEndPoint);
        return true;
    }

    /// <summary>The greeting is written (or the connection ends): its array goes with it.</summary>
    private void GreetingDone() => PendingGreeting = null;

    /// <summary>Bytes of the greeting written so far.</summary>
    private int _greetingSent;

    /// <summary>Client bytes that came right behind the PROXY header, at the start of the buffer, to echo after the greeting.</summary>
    private int _afterGreeting;

    /// <summary>The pump's first step once the connection is accepted: its greeting, if it has one (a null test per connection).</summary>
    private ConnectionPhase FirstStepOrGreeting => OpenAfterDelay(
        NeedsUpstream ? ConnectionPhase.Connect : PendingGreeting is null ? FirstStep : ConnectionPhase.Greet);

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
            return OnReceived(rest);
        }

        return FirstStep;
    }
}
