using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace EchoKit.Internal;

/// <summary>
/// What a slot does with a completed receive: counts it, drops it (oversized, blocked source, rate limited) or makes
/// it ready to echo, after the fault rules when some fit; and how a slot recovers from a failure.
/// </summary>
internal sealed partial class UdpEchoListener
{
    private sealed partial class Slot
    {
        /// <summary>A receive completed: consumes it; returns whether to issue the next operation now (false: this slot is done for now, or held).</summary>
        private bool CompleteReceive()
        {
            var error = SocketError;
            if (error != SocketError.Success)
            {
                return ReceiveFailed(error);
            }

            _retry?.Reset();
            var length = Math.Min(BytesTransferred, _buffer.Length);
            Counters.Received++;
            Counters.BytesReceived += length;
            if ((SocketFlags & SocketFlags.Truncated) != 0)
            {
                // Larger than MaxDatagramSize: only its start was received, and an echo must not be cut short.
                Counters.Oversized++;
                LogDropped(length, "larger than Udp.MaxDatagramSize");
                return true;
            }

            if (!_source.Captured && RemoteEndPoint is IPEndPoint made && !ReferenceEquals(made, _source))
            {
                // A runtime that made its own endpoint instead of calling UdpSource.Create: read it, and send to it.
                _source.Capture(made);
                _sendTo = made;
            }

            var policy = _listener._policy;
            if (!_source.Captured || _source.IsInvalidSender || policy.IsBlockedPort(_source.SourcePort) || _source.SourcePort == _listener.Port)
            {
                // Never answered: a forged source could otherwise loop the echo with another service (or this one).
                Counters.Blocked++;
                LogDropped(length, "blocked source");
                return true;
            }

            if (policy.RateLimiter is { } limiter && !limiter.TryTake(_source.Key))
            {
                Counters.RateLimited++;
                return true;
            }

            _length = length;
            _copies = 1;

            // Without a fitting rule: one volatile read, a reference test and a null test per datagram.
            var faults = _listener._faults;
            var rules = _listener._context.Faults.Current;
            if (!ReferenceEquals(rules, faults.Set))
            {
                faults.Take(rules);
            }

            if (faults.HasRules)
            {
                return ApplyFaults(faults);
            }

            _sending = true;
            return true;
        }

        private bool ReceiveFailed(SocketError error)
        {
            if (_listener._closed || error == SocketError.OperationAborted)
            {
                _listener.SlotEnded();
                return false;
            }

            switch (error)
            {
                case SocketError.MessageSize:
                    // Windows reports a truncated datagram as an error rather than a flag.
                    Counters.Received++;
                    Counters.Oversized++;
                    return true;
                case SocketError.ConnectionReset:
                case SocketError.NetworkReset:
                case SocketError.HostUnreachable:
                case SocketError.NetworkUnreachable:
                    // An ICMP error about an earlier echo, reported on the next receive by some systems; not a fault.
                    return true;
                default:
                    RetryLater(new SocketException((int)error));
                    return false;
            }
        }

        private void Fail(Exception exception)
        {
            if (_listener._closed)
            {
                TakeReleaseAfterSend()?.Release();
                _listener.SlotEnded();
                return;
            }

            // Unexpected; this slot keeps (or takes back) the receive duty after a pause. A datagram held for after
            // the one that was being sent is released, so it is not held forever.
            _sending = false;
            _sentOne = false;
            TakeReleaseAfterSend()?.Release();
            RetryLater(exception);
        }

        /// <summary>Reports an unexpected failure and resumes receiving after a pause that grows up to one second.</summary>
        private void RetryLater(Exception exception)
        {
            var listener = _listener;
            _retry ??= new RetryBackoff(((IThreadPoolWorkItem)this).Execute);
            EchoServerLog.UdpReceiveFailed(listener._context.Logger, listener.EndPoint, _retry.Next(), exception);
            listener._context.Server.RaiseServerFaulted(listener.EndPoint, exception);
            _retry.Schedule();
        }

        private void LogDropped(int length, string reason)
        {
            var logger = _listener._context.Logger;
            if (logger.IsEnabled(LogLevel.Debug))
            {
                EchoServerLog.DatagramDropped(logger, length, _source.Captured ? _source.ToIPEndPoint() : null, _listener.EndPoint, reason);
            }
        }
    }
}
