using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using static EchoKit.Cli.EchoKitCommandLine;
using static EchoKit.Cli.ValueParsers;

namespace EchoKit.Cli;

/// <summary>Running <c>echokit proxy</c>: the API and the <c>--listen</c> proxy up, the status line until the first signal, then every proxy stopped.</summary>
internal sealed partial class ProxyCommand
{
    private async Task<int> RunAsync(ParseResult parseResult, CliConsole console)
    {
        if (FindUsageProblem(parseResult) is { } problem)
        {
            return await UsageErrorAsync(console, "proxy", problem).ConfigureAwait(false);
        }

        var live = new LiveLine(console.Output, console.OutputIsTerminal, console.Width, console.Error);
        var logLevel = parseResult.GetValue(_run.LogLevelFlag);
        var logProvider = new CliLoggerProvider(live);
        using var loggerFactory = ForegroundRun.CreateLoggerFactory(logLevel, logProvider);

        using var changed = new SemaphoreSlim(0, 1);
        var settings = new ProxySettings(
            parseResult.GetValue(_seed), ValueOr(parseResult, _connectTimeout, TimeSpan.FromSeconds(5)), loggerFactory,
            loggerFactory.CreateLogger("EchoKit.Cli.Proxy"), () => StatusLine.Wake(changed));
        await using var registry = new ToxiproxyRegistry(settings);
        ToxiproxyApi? api = null;
        try
        {
            if (parseResult.GetValue(_admin) is { } adminEndPoint)
            {
                try
                {
                    api = await ToxiproxyApi.StartAsync(adminEndPoint, registry, logProvider, logLevel, console.Stop).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or SocketException or UnauthorizedAccessException)
                {
                    await console.Error.WriteLineAsync($"echokit proxy: failed to start the API on {adminEndPoint}: {ex.Message}").ConfigureAwait(false);
                    return Failure;
                }
            }

            if (parseResult.GetValue(_config) is { } file
                && await StartConfiguredProxiesAsync(file, registry, console).ConfigureAwait(false) is { } configFailure)
            {
                return configFailure;
            }

            if (parseResult.GetValue(_listen) is { } listen)
            {
                if (await StartListenProxyAsync(parseResult, registry, listen, console).ConfigureAwait(false) is { } failure)
                {
                    return failure;
                }
            }

            if (api is not null)
            {
                await console.Output.WriteLineAsync($"Listening on admin {api.EndPoint}").ConfigureAwait(false);
            }

            await _run.UntilStoppedAsync(
                parseResult, console, live, interval => ProxyStatusLine.ShowAsync(registry, live, interval, changed, console.Width, console.Stop)).ConfigureAwait(false);
            await console.Output.WriteLineAsync("Stopping: closing every proxied connection.").ConfigureAwait(false);
            await console.Output.FlushAsync().ConfigureAwait(false);
            return Success;
        }
        finally
        {
            // The API first, so no request starts a proxy while the others stop; the registry's dispose stops them all.
            if (api is not null)
            {
                await api.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The proxy of <c>--listen</c>, with the <c>--fault</c> rules as its toxics; the exit code when it cannot start.</summary>
    private async Task<int?> StartListenProxyAsync(ParseResult parseResult, ToxiproxyRegistry registry, EndPoint listen, CliConsole console)
    {
        var upstream = parseResult.GetValue(_upstream)!;
        var name = parseResult.GetValue(_name) is { Length: > 0 } given ? given : DefaultName;
        var toxics = new List<ToxiproxyToxic>();
        foreach (var rule in parseResult.GetValue(_fault) ?? [])
        {
            // Named as Toxiproxy names a toxic, TYPE_STREAM, and made unique when a type repeats on one stream.
            var type = rule.ToString().Split(':', 2)[0];
            var baseName = ToxiproxyToxic.DefaultName(type, rule.Stream);
            var toxicName = baseName;
            for (var n = 2; toxics.Exists(t => t.Name == toxicName); n++)
            {
                toxicName = $"{baseName}_{n}";
            }

            toxics.Add(ToxiproxyToxic.FromRule(rule, toxicName));
        }

        var upstreamText = ProxyAddresses.Format(upstream);
        try
        {
            var proxy = await registry.LockedAsync(
                () => registry.CreateAsync(new ProxyDefinition(name, listen, upstreamText, upstream), enabled: true, toxics, console.Stop),
                console.Stop).ConfigureAwait(false);
            await console.Output.WriteLineAsync($"Listening on {(proxy.Listen is UnixDomainSocketEndPoint ? "unix" : "tcp")} {ProxyAddresses.Format(proxy.Listen)}").ConfigureAwait(false);
            await console.Output.WriteLineAsync($"Relaying to {upstreamText}{(toxics.Count == 0 ? "" : " with " + string.Join("; ", toxics.Select(t => t.Rule)))}").ConfigureAwait(false);
            return null;
        }
        catch (ToxiproxyError ex)
        {
            await console.Error.WriteLineAsync($"echokit proxy: failed to start: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }
        catch (OperationCanceledException) when (console.Stop.IsCancellationRequested)
        {
            await console.Error.WriteLineAsync("echokit proxy: stopped while starting.").ConfigureAwait(false);
            return Interrupted;
        }
    }
}
