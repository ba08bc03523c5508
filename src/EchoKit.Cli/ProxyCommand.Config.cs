using System.CommandLine;
using System.Text.Json;

namespace EchoKit.Cli;

/// <summary>
/// <c>--config FILE</c>: the proxies to start with, in Toxiproxy's own config format (its <c>-config</c> flag and
/// <c>/populate</c>): a JSON array of <c>{"name", "listen", "upstream", "enabled"}</c>, each entry here also taking
/// the <c>"toxics"</c> the API takes (<c>{"type", "stream", "toxicity", "attributes"}</c>), so a file written for
/// Toxiproxy works unchanged and one written for EchoKit starts with its faults in place.
/// </summary>
internal sealed partial class ProxyCommand
{
    private readonly Option<FileInfo> _config = new("--config")
    {
        HelpName = "file",
        Description = "Start the proxies of this JSON file: Toxiproxy's config format, [{\"name\", \"listen\", \"upstream\", \"enabled\"}, ...], each also taking \"toxics\": [{\"type\", \"stream\", \"toxicity\", \"attributes\"}, ...] as the API does.",
    };

    /// <summary>Starts every proxy of the file, all or none; the exit code when one cannot start (the file's fault: usage; an address in use: failure).</summary>
    private static async Task<int?> StartConfiguredProxiesAsync(FileInfo file, ToxiproxyRegistry registry, CliConsole console)
    {
        List<(ProxyDefinition Definition, bool Enabled, List<ToxiproxyToxic> Toxics)> entries;
        try
        {
            entries = Read(file);
        }
        catch (Exception ex) when (ex is ToxiproxyError or JsonException or IOException or UnauthorizedAccessException)
        {
            await console.Error.WriteLineAsync($"echokit proxy: --config {file.FullName}: {ex.Message}").ConfigureAwait(false);
            return EchoKitCommandLine.Usage;
        }

        foreach (var (definition, enabled, toxics) in entries)
        {
            try
            {
                var proxy = await registry.LockedAsync(() => registry.CreateAsync(definition, enabled, toxics, console.Stop), console.Stop).ConfigureAwait(false);
                await console.Output.WriteLineAsync(
                    $"Proxy {proxy.Name}: {(enabled ? "listening on " + ProxyAddresses.Format(proxy.Listen) : "disabled")}, relaying to {definition.UpstreamText}" +
                    (toxics.Count == 0 ? "" : " with " + string.Join("; ", toxics.Select(t => t.Rule?.ToString() ?? t.Type)))).ConfigureAwait(false);
            }
            catch (ToxiproxyError ex)
            {
                await console.Error.WriteLineAsync($"echokit proxy: --config {file.FullName}: proxy {definition.Name}: {ex.Message}").ConfigureAwait(false);
                return EchoKitCommandLine.Failure;
            }
        }

        return null;
    }

    /// <summary>Reads and checks every entry before any proxy starts, so a bad file changes nothing.</summary>
    private static List<(ProxyDefinition, bool, List<ToxiproxyToxic>)> Read(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new IOException("the file does not exist");
        }

        using var document = JsonDocument.Parse(File.ReadAllText(file.FullName), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw ToxiproxyError.BadBody("the file must hold a JSON array of proxies, as Toxiproxy's -config file does");
        }

        var entries = new List<(ProxyDefinition, bool, List<ToxiproxyToxic>)>();
        var position = 0;
        foreach (var element in document.RootElement.EnumerateArray())
        {
            var definition = ProxyDefinition.Read(element, position++);
            if (entries.Exists(e => e.Item1.Name == definition.Name))
            {
                throw ToxiproxyError.BadBody($"the name '{definition.Name}' is used twice");
            }

            var enabled = !element.TryGetProperty("enabled", out var flag) || flag.ValueKind != JsonValueKind.False;
            var toxics = new List<ToxiproxyToxic>();
            if (element.TryGetProperty("toxics", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var body in list.EnumerateArray())
                {
                    var toxic = ToxiproxyToxic.Create(body);
                    if (toxics.Exists(t => t.Name == toxic.Name))
                    {
                        throw ToxiproxyError.BadBody($"proxy {definition.Name} has the toxic name '{toxic.Name}' twice");
                    }

                    toxics.Add(toxic);
                }
            }

            entries.Add((definition, enabled, toxics));
        }

        return entries;
    }
}
