using System.Net;
using System.Net.Sockets;

namespace EchoKit.Internal;

/// <summary>
/// The PROXY protocol in the one lifecycle (see <see cref="ProxyProtocolOptions"/>). A connection that must start with
/// a header is admitted with its socket's addresses but is not yet "accepted": no accepted event, no per-address slot,
/// no faults. When its header is complete, the addresses it carries become the connection's endpoints, the per-address
/// limit takes the real client's slot, faults are decided (so the selector sees the client), and then the connection
/// is accepted as any other. One that fails leaves by <see cref="RejectPending"/>: counted as rejected, never echoed.
/// </summary>
internal sealed partial class StreamConnection
{
    private ConnectionRejectionReason _proxyRejection;
    private string? _proxyRejectionDetail;

    /// <summary>The bytes of the connection's start received so far, at the start of the buffer.</summary>
    private int _headerReceived;

    /// <summary>Admitted but its PROXY header is not complete yet; the set counts it as accepted only once it is.</summary>
    public bool AwaitsProxyHeader { get; private set; }

    /// <summary>
    /// At accept, before the connection takes a slot: one from outside the trusted networks is turned away at once,
    /// since its header could claim any address. Returns whether it was (and is released).
    /// </summary>
    public bool TryRejectUntrusted()
    {
        if (!AwaitsProxyHeader || Context.Options.ProxyProtocol.Trusts((RemoteEndPoint as IPEndPoint)?.Address))
        {
            return false;
        }

        ProxyLog.Rejected(Context.Logger, Context.ProxyWarnings, RemoteEndPoint, LocalEndPoint, ConnectionRejectionReason.ProxyUntrusted,
            "its address is outside ProxyProtocol.TrustedNetworks");
        Context.Connections.CountRejected(Listener, 1);
        Reject(ConnectionRejectionReason.ProxyUntrusted);
        return true;
    }

    /// <summary>Begin's part: whether this connection must start with a header (then its faults wait for it).</summary>
    private void BeginProxy()
    {
        AwaitsProxyHeader = Context.Options.ProxyProtocol.Enabled;
        _proxyRejection = ConnectionRejectionReason.ProxyHeaderInvalid;
        _proxyRejectionDetail = null;
    }

    /// <summary>
    /// Reads the header from the <paramref name="received"/> bytes (all received so far). Returns
    /// <see cref="ProxyParseStatus.Complete"/> once the connection is accepted with the header's addresses
    /// (<paramref name="consumed"/> bytes were the header; the rest is the client's data, to echo),
    /// <see cref="ProxyParseStatus.Incomplete"/> to receive more, or <see cref="ProxyParseStatus.Invalid"/> when it
    /// must be rejected: then the pump closes, and the close becomes <see cref="RejectPending"/>.
    /// </summary>
    private ProxyParseStatus ReadProxyHeader(ReadOnlySpan<byte> received, out int consumed)
    {
        var options = Context.Options.ProxyProtocol;
        var status = ProxyHeaderParser.TryParse(received, options.MaxHeaderLength, out var header, out consumed, out var error);
        if (status == ProxyParseStatus.Incomplete)
        {
            // A header never needs more than one buffer (MaxHeaderLength is at most ReceiveBufferSize, v1 at most 107).
            if (received.Length < Buffer!.Length)
            {
                return status;
            }

            error = ProxyHeaderError.TooLong;
        }

        if (status != ProxyParseStatus.Complete)
        {
            return FailProxy(ConnectionRejectionReason.ProxyHeaderInvalid, ProxyLog.Describe(error));
        }

        if (header.HasAddresses)
        {
            // LOCAL (a balancer's own health check) and UNKNOWN keep the socket's addresses.
            RemoteEndPoint = header.Source;
            LocalEndPoint = header.Destination;
        }

        // Faults first: a refuse rule turns the connection away before it takes its client's per-address slot.
        DecideFaults(Context.Faults, Listener);
        if (Faults?.Refuse is { } refuse)
        {
            if (refuse == EchoFaultClose.Reset)
            {
                _transport.SetAbortiveClose();
            }

            Context.Metrics.FaultsApplied(Listener, Faults.Rules);
            return FailProxy(ConnectionRejectionReason.FaultInjected, "a refuse fault rule");
        }

        var remoteAddress = Context.Options.MaxConnectionsPerAddress is not null && RemoteEndPoint is IPEndPoint ip
            ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address)
            : null;
        if (!Context.Connections.TryConfirmProxied(this, remoteAddress, out var rejection))
        {
            return FailProxy(rejection, "MaxConnectionsPerAddress connections from the client's address are already served");
        }

        RemoteAddress = remoteAddress;
        AwaitsProxyHeader = false;
        return ProxyParseStatus.Complete;
    }

    /// <summary>
    /// More of the connection's start arrived while its PROXY header is awaited: read on, reject, or, once accepted,
    /// report it and go on with whatever came after the header: a TLS connection's handshake starts with it; other
    /// bytes are echoed as if they had just been received.
    /// </summary>
    private ConnectionPhase OnProxyHeaderBytes(int transferred)
    {
        Touch();
        _headerReceived += transferred;
        var buffer = Buffer!;
        switch (ReadProxyHeader(buffer.AsSpan(0, _headerReceived), out var consumed))
        {
            case ProxyParseStatus.Incomplete:
                return ConnectionPhase.ProxyHeader;
            case ProxyParseStatus.Invalid:
                return ConnectionPhase.Close;
        }

        var rest = _headerReceived - consumed;
        if (IsTls)
        {
            // Once per connection: the client's first TLS bytes, for the handshake; faults and greeting wait for it.
            _handshakePrefix = rest > 0 ? buffer.AsSpan(consumed, rest).ToArray() : null;
            ReleaseBuffer();
            ReportAccepted();
            return ConnectionPhase.Handshake;
        }

        StartServing();
        ReportAccepted();
        if (rest == 0)
        {
            if (Context.Options.WaitForDataBeforeAllocatingBuffer)
            {
                ReleaseBuffer();
            }

            return FirstStepOrGreeting;
        }

        // Once per connection: the client's first bytes move to where a receive would have put them.
        buffer.AsSpan(consumed, rest).CopyTo(buffer);
        if (PendingGreeting is not null)
        {
            // Echoed once the greeting is out (see OnGreetingSent).
            _afterGreeting = rest;
            return ConnectionPhase.Greet;
        }

        return OnReceived(rest);
    }

    /// <summary>The housekeeping timer found the header still incomplete after <see cref="ProxyProtocolOptions.HeaderTimeout"/>.</summary>
    private void TimeOutProxyHeader()
    {
        _proxyRejection = ConnectionRejectionReason.ProxyHeaderTimeout;
        _proxyRejectionDetail = $"the header was not complete within ProxyProtocol.HeaderTimeout ({Context.Options.ProxyProtocol.HeaderTimeout})";
        Abort(ConnectionCloseReason.IdleTimeout);
    }

    private ProxyParseStatus FailProxy(ConnectionRejectionReason reason, string detail)
    {
        _proxyRejection = reason;
        _proxyRejectionDetail = detail;
        TryDecide(ConnectionCloseReason.Error, SocketError.Success);
        return ProxyParseStatus.Invalid;
    }

    /// <summary>
    /// The close of a connection that never got past its header: out of the set as rejected, the started metric
    /// undone, a rate-limited warning (unless the server is stopping), and <see cref="EchoServer.ConnectionRejected"/>
    /// instead of the closed event.
    /// </summary>
    private void RejectPending()
    {
        MarkCloseStarted();
        var stopping = CloseReason == ConnectionCloseReason.ServerStopping;
        var reason = stopping ? ConnectionRejectionReason.ServerStopping : _proxyRejection;
        if (!stopping && _proxyRejectionDetail is null)
        {
            _proxyRejectionDetail = "the client closed or reset the connection before its header was complete";
        }

        _transport.Close();
        ReleaseBuffer();
        var context = Context;
        context.Connections.Remove(this, CloseReason, rejected: true);
        context.Metrics.ConnectionNeverServed(Listener);
        if (!stopping)
        {
            ProxyLog.Rejected(context.Logger, context.ProxyWarnings, RemoteEndPoint, LocalEndPoint, reason, _proxyRejectionDetail!);
        }

        Reject(reason);
        context.Connections.Released();
    }
}
