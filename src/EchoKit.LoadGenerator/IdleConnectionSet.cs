using System.Net.Sockets;
using EchoKit.LoadGenerator.Internal;

namespace EchoKit.LoadGenerator;

/// <summary>Connections opened by <see cref="LoadClient.OpenIdleAsync"/>, open and idle until disposed.</summary>
public sealed class IdleConnectionSet : IDisposable
{
    private readonly IdleOptions _options;
    private readonly MessagePattern _pattern;
    private readonly Socket?[] _sockets;
    private readonly ErrorCollector _errors = new();
    private int _rounds;

    internal IdleConnectionSet(IdleOptions options)
    {
        _options = options;
        _pattern = new MessagePattern(options.MessageSize);
        _sockets = new Socket?[options.Connections];
    }

    /// <summary>Connections open now (opened, and not failed since).</summary>
    public int Count => _sockets.Count(s => s is not null);

    /// <summary>Connections that failed to open or to echo, so far.</summary>
    public long Errors => _errors.Count;

    /// <summary>The first error seen; <see langword="null"/> when none.</summary>
    public string? FirstError => _errors.First;

    /// <summary>Echoes one message on every open connection; a connection that fails is closed and counted.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>How many connections failed this check.</returns>
    public async Task<int> VerifyAsync(CancellationToken cancellationToken = default)
    {
        var round = ++_rounds;
        var failed = 0;
        await LoopbackSocket.ForEachAsync(_sockets.Length, _options.ConnectConcurrency, async i =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_sockets[i] is { } socket && !await EchoAsync(socket, i, round).ConfigureAwait(false))
            {
                Interlocked.Increment(ref failed);
                socket.Dispose();
                _sockets[i] = null;
            }
        }).ConfigureAwait(false);
        return failed;
    }

    /// <summary>Closes every connection.</summary>
    public void Dispose()
    {
        for (var i = 0; i < _sockets.Length; i++)
        {
            _sockets[i]?.Dispose();
            _sockets[i] = null;
        }
    }

    internal async Task OpenAsync(CancellationToken cancellationToken)
    {
        await LoopbackSocket.ForEachAsync(_sockets.Length, _options.ConnectConcurrency, async i =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            Socket socket;
            try
            {
                socket = await LoopbackSocket.ConnectAsync(_options.EndPoint, _options.SourceFor(i), _options.ConnectTimeout).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                _errors.Add($"connection {i}: connect failed: {LoopbackSocket.Describe(ex)}");
                return;
            }

            if (await EchoAsync(socket, i, 0).ConfigureAwait(false))
            {
                _sockets[i] = socket;
            }
            else
            {
                socket.Dispose();
            }
        }).ConfigureAwait(false);
    }

    private async ValueTask<bool> EchoAsync(Socket socket, int index, long sequence)
    {
        var send = new byte[_pattern.MessageSize];
        var receive = new byte[_pattern.MessageSize];
        _pattern.Write(index, sequence, send);
        try
        {
            using var timeout = new CancellationTokenSource(_options.EchoTimeout);
            await LoopbackSocket.SendAllAsync(socket, send, timeout.Token).ConfigureAwait(false);
            var got = 0;
            while (got < receive.Length)
            {
                var n = await socket.ReceiveAsync(receive.AsMemory(got), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    _errors.Add($"connection {index}: the server closed it");
                    return false;
                }

                got += n;
            }

            if (!_pattern.Verify(index, sequence, 0, receive))
            {
                _errors.Add($"connection {index}: echoed bytes differ from those sent");
                return false;
            }

            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _errors.Add($"connection {index}: echo failed: {LoopbackSocket.Describe(ex)}");
            return false;
        }
    }
}
