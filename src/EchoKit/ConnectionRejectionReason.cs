namespace EchoKit;

/// <summary>Why an accepted socket was closed at once instead of being served.</summary>
public enum ConnectionRejectionReason
{
    /// <summary><see cref="EchoServerOptions.MaxConnections"/> connections were already being served.</summary>
    MaxConnectionsExceeded = 0,

    /// <summary>The server was stopping when the connection arrived.</summary>
    ServerStopping = 1,
}
