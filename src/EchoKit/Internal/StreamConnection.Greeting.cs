namespace EchoKit.Internal;

/// <summary>
/// <see cref="EchoServerOptions.Greeting"/>: expanded once a connection is accepted (after its PROXY header, so
/// <c>{remote}</c> is the real client), written by the pump before its first receive. A server without a greeting pays
/// a few null tests per connection and nothing per message.
/// </summary>
internal abstract partial class StreamConnection
{
    /// <summary>The expanded greeting while it is to be written (its own array, not the pooled buffer); null after.</summary>
    protected byte[]? PendingGreeting { get; private set; }

    /// <summary>Expands the greeting for this connection, if the server has one; returns whether it has.</summary>
    protected bool PrepareGreeting()
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
    protected void GreetingDone() => PendingGreeting = null;
}
