using System.Net;

namespace EchoKit.Internal;

/// <summary>Where a fault proxy's engine relays each accepted connection, and how long connecting there may take.</summary>
internal sealed record ProxyUpstream(EndPoint EndPoint, TimeSpan ConnectTimeout);
