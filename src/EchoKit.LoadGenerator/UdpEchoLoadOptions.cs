using System.Net.Sockets;

namespace EchoKit.LoadGenerator;

/// <summary>
/// Settings of a UDP echo load (<see cref="LoadClient.RunUdpEchoAsync"/>). Each flow is one connected UDP socket
/// (its own source port) keeping <see cref="MessagesInFlight"/> datagrams outstanding; a datagram not echoed within
/// <see cref="LossTimeout"/> counts as lost and its slot carries the next one. <see cref="LoadTarget.SourceAddresses"/>
/// spreads the flows over local addresses; <see cref="LoadTarget.ConnectTimeout"/> and
/// <see cref="LoadTarget.ConnectConcurrency"/> do not apply (a UDP socket connects locally, at once).
/// </summary>
public sealed class UdpEchoLoadOptions : TimedLoadOptions
{
    /// <summary>The smallest datagram: the header that carries the flow id and sequence number.</summary>
    public const int MinMessageSize = MessagePattern.HeaderSize;

    /// <summary>The largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).</summary>
    public const int MaxIPv4MessageSize = 65_507;

    /// <summary>The largest UDP payload over IPv6 (without jumbograms): 65,535 − 8 (UDP header).</summary>
    public const int MaxIPv6MessageSize = 65_527;

    /// <summary>The most datagrams in flight per flow.</summary>
    public const int MaxMessagesInFlight = 4096;

    /// <summary>Concurrent flows, each one connected UDP socket with its own source port. Defaults to 1.</summary>
    public int Flows { get; init; } = 1;

    /// <summary>Datagrams outstanding per flow: one more is sent for each one echoed or lost. Defaults to 1 (ping-pong).</summary>
    public int MessagesInFlight { get; init; } = 1;

    /// <summary>
    /// How long a datagram may take to come back before it counts as lost (not as an error). An echo that arrives
    /// later is counted as out of window. An echo already waiting unread on the flow's socket is not lost: the client
    /// was behind, not the network, so while echoes wait there a datagram gets up to twice this long. After the run,
    /// the datagrams still out get this long too. Defaults to 1 s.
    /// </summary>
    public TimeSpan LossTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Live counters to read while the run goes on (a progress display); <see langword="null"/> for none.</summary>
    public LoadProgress? Progress { get; init; }

    /// <summary>The largest <see cref="TimedLoadOptions.MessageSize"/> (from <see cref="MinMessageSize"/>) for the target's address family.</summary>
    public int MaxMessageSize => EndPoint?.AddressFamily == AddressFamily.InterNetworkV6 ? MaxIPv6MessageSize : MaxIPv4MessageSize;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Flows is < 1 or > 100_000)
        {
            throw new ArgumentException($"Flows must be between 1 and 100,000 (was {Flows}).", nameof(Flows));
        }

        if (MessageSize < MinMessageSize || MessageSize > MaxMessageSize)
        {
            var family = EndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";
            throw new ArgumentException(
                $"MessageSize must be between {MinMessageSize} and {MaxMessageSize:N0} bytes for UDP over {family} (was {MessageSize:N0}): a datagram carries at most {MaxMessageSize:N0} bytes, and the first {MinMessageSize} hold its flow and sequence number.",
                nameof(MessageSize));
        }

        if (MessagesInFlight < 1 || MessagesInFlight > MaxMessagesInFlight || (long)MessagesInFlight * MessageSize > 256L * 1024 * 1024)
        {
            throw new ArgumentException($"MessagesInFlight must be between 1 and {MaxMessagesInFlight:N0}, and MessagesInFlight × MessageSize at most 256 MiB (was {MessagesInFlight:N0}).", nameof(MessagesInFlight));
        }

        if (LossTimeout < TimeSpan.FromMilliseconds(1) || LossTimeout > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentException($"LossTimeout must be between 1 ms and 1 minute (was {LossTimeout}).", nameof(LossTimeout));
        }
    }
}
