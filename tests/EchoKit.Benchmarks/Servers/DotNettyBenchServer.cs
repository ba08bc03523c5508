using System.Net;
using DotNetty.Transport.Bootstrapping;
using DotNetty.Transport.Channels;
using DotNetty.Transport.Channels.Sockets;

namespace EchoKit.Benchmarks.Servers;

/// <summary>
/// DotNetty's echo server example without framing or TLS: a boss group of one loop, a worker group with the default
/// number of loops, and a handler that writes what it reads and flushes when a read burst ends. TCP_NODELAY is set
/// like every other server here (the example leaves Nagle on).
/// </summary>
public sealed class DotNettyBenchServer : IBenchServer
{
    private MultithreadEventLoopGroup? _boss;
    private MultithreadEventLoopGroup? _workers;
    private IChannel? _channel;

    public async Task StartAsync(int port)
    {
        _boss = new MultithreadEventLoopGroup(1);
        _workers = new MultithreadEventLoopGroup();
        var bootstrap = new ServerBootstrap()
            .Group(_boss, _workers)
            .Channel<TcpServerSocketChannel>()
            .Option(ChannelOption.SoBacklog, 512)
            .ChildOption(ChannelOption.TcpNodelay, true)
            .ChildHandler(new ActionChannelInitializer<IChannel>(channel => channel.Pipeline.AddLast("echo", new EchoServerHandler())));
        _channel = await bootstrap.BindAsync(new IPEndPoint(IPAddress.Loopback, port));
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
        {
            await _channel.CloseAsync();
        }

        var quiet = TimeSpan.FromMilliseconds(50);
        var timeout = TimeSpan.FromSeconds(2);
        await Task.WhenAll(
            _boss?.ShutdownGracefullyAsync(quiet, timeout) ?? Task.CompletedTask,
            _workers?.ShutdownGracefullyAsync(quiet, timeout) ?? Task.CompletedTask);
    }

    private sealed class EchoServerHandler : ChannelHandlerAdapter
    {
        public override void ChannelRead(IChannelHandlerContext context, object message) => context.WriteAsync(message);

        public override void ChannelReadComplete(IChannelHandlerContext context) => context.Flush();

        public override void ExceptionCaught(IChannelHandlerContext context, Exception exception) => context.CloseAsync();
    }
}
