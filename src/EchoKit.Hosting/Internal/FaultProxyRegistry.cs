namespace EchoKit.Hosting.Internal;

/// <summary>The names of the fault proxies added to one service collection; a type of its own so proxy names are their own.</summary>
internal sealed class FaultProxyRegistry : HostedNameRegistry;
