using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry.Metrics;

namespace EchoKit.Cli;

/// <summary>
/// The routes, status codes and bodies of Toxiproxy 2.x's api.go: 201 for a created proxy and for /populate, 200
/// with the toxic for a created toxic, 204 for a delete and for /reset, <c>{"error", "status"}</c> for every failure.
/// </summary>
internal sealed partial class ToxiproxyApi
{
    private static readonly string VersionText =
        (typeof(ToxiproxyApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    /// <summary>Messages readable as written: <c>'</c> and <c>&lt;</c> not escaped (a JSON answer, never put in HTML).</summary>
    private static readonly JsonSerializerOptions Output = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private void Map(WebApplication app)
    {
        // Toxiproxy refuses browsers (a page could otherwise drive a loopback API it cannot read): the same here.
        app.Use((context, next) => context.Request.Headers.UserAgent.ToString().StartsWith("Mozilla/", StringComparison.Ordinal)
            ? Results.Text("User agent not allowed\n", "text/plain", statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(context)
            : next(context));
        app.MapPrometheusScrapingEndpoint("/metrics");

        var api = app.MapGroup("").AddEndpointFilter(async (invocation, next) =>
        {
            try
            {
                return await next(invocation).ConfigureAwait(false);
            }
            catch (ToxiproxyError error)
            {
                return Json(new JsonObject { ["error"] = error.Message, ["status"] = error.Status }, error.Status);
            }
        });
        api.MapGet("/version", (Delegate)GetVersion);
        api.MapGet("/proxies", (Delegate)GetProxiesAsync);
        api.MapPost("/proxies", (Delegate)CreateProxyAsync);
        api.MapPost("/populate", (Delegate)PopulateAsync);
        api.MapPost("/reset", (Delegate)ResetAsync);
        api.MapGet("/proxies/{proxy}", (Delegate)GetProxyAsync);
        api.MapMethods("/proxies/{proxy}", ["POST", "PATCH"], (Delegate)UpdateProxyAsync);
        api.MapDelete("/proxies/{proxy}", (Delegate)DeleteProxyAsync);
        api.MapGet("/proxies/{proxy}/toxics", (Delegate)GetToxicsAsync);
        api.MapPost("/proxies/{proxy}/toxics", (Delegate)CreateToxicAsync);
        api.MapGet("/proxies/{proxy}/toxics/{toxic}", (Delegate)GetToxicAsync);
        api.MapMethods("/proxies/{proxy}/toxics/{toxic}", ["POST", "PATCH"], (Delegate)UpdateToxicAsync);
        api.MapDelete("/proxies/{proxy}/toxics/{toxic}", (Delegate)DeleteToxicAsync);
    }

    private static IResult GetVersion() => Results.Text($"{{\"version\": \"{VersionText}\"}}\n", "application/json", Encoding.UTF8);

    private Task<IResult> GetProxiesAsync() =>
        Locked(() => Json(new JsonObject(_registry.Proxies.Select(p => KeyValuePair.Create(p.Name, (JsonNode?)p.ToJson())))));

    private Task<IResult> GetProxyAsync(string proxy) => Locked(() => Json(_registry.Get(proxy).ToJson()));

    private Task<IResult> GetToxicsAsync(string proxy) => Locked(() => Json(_registry.Get(proxy).ToxicsJson()));

    private Task<IResult> GetToxicAsync(string proxy, string toxic) => Locked(() => Json(_registry.Get(proxy).GetToxic(toxic).ToJson()));

    private Task<IResult> ResetAsync() => Locked(async () =>
    {
        await _registry.ResetAsync(CancellationToken.None).ConfigureAwait(false);
        return Results.NoContent();
    });

    private Task<IResult> DeleteProxyAsync(string proxy) => Locked(async () =>
    {
        await _registry.DeleteAsync(_registry.Get(proxy)).ConfigureAwait(false);
        return Results.NoContent();
    });

    private Task<IResult> DeleteToxicAsync(string proxy, string toxic) => Locked(() =>
    {
        _registry.Get(proxy).RemoveToxic(toxic);
        return Results.NoContent();
    });

    private async Task<IResult> CreateProxyAsync(HttpContext context)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var definition = ProxyDefinition.Read(body.RootElement);
        var enabled = OptionalBoolean(body.RootElement, "enabled") ?? true;
        return await Locked(async () =>
        {
            var created = await _registry.CreateAsync(definition, enabled, [], CancellationToken.None).ConfigureAwait(false);
            return Json(created.ToJson(), StatusCodes.Status201Created);
        }).ConfigureAwait(false);
    }

    private async Task<IResult> UpdateProxyAsync(string proxy, HttpContext context)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        if (body.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw ToxiproxyError.BadBody("the body must be a JSON object");
        }

        return await Locked(async () =>
        {
            // As in Toxiproxy, a field not given keeps its value.
            var existing = _registry.Get(proxy);
            var root = body.RootElement;
            var listen = ToxiproxyToxic.OptionalString(root, "listen") is { Length: > 0 } listenText ? ProxyDefinition.ReadListen(listenText) : existing.Listen;
            var upstreamText = ToxiproxyToxic.OptionalString(root, "upstream") is { Length: > 0 } given ? given : existing.UpstreamText;
            var upstream = upstreamText == existing.UpstreamText ? existing.Upstream : ProxyDefinition.ReadUpstream(upstreamText);
            var enabled = OptionalBoolean(root, "enabled") ?? existing.Enabled;
            var updated = await _registry.UpdateAsync(existing, listen, upstreamText, upstream, enabled, CancellationToken.None).ConfigureAwait(false);
            return Json(updated.ToJson());
        }).ConfigureAwait(false);
    }

    private async Task<IResult> PopulateAsync(HttpContext context)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        if (body.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw ToxiproxyError.BadBody("the body must be a JSON array of proxies");
        }

        // Every entry is checked before any proxy changes, as Toxiproxy does.
        var entries = body.RootElement.EnumerateArray()
            .Select((element, index) => (Definition: ProxyDefinition.Read(element, index + 1), Enabled: OptionalBoolean(element, "enabled") ?? true))
            .ToList();
        return await Locked(async () =>
        {
            var done = new JsonArray();
            foreach (var (definition, enabled) in entries)
            {
                try
                {
                    done.Add((await _registry.AddOrReplaceAsync(definition, enabled, CancellationToken.None).ConfigureAwait(false)).ToJson());
                }
                catch (ToxiproxyError error)
                {
                    // Toxiproxy's answer to a partial populate: the error, and the proxies made before it.
                    return Json(new JsonObject { ["error"] = error.Message, ["status"] = error.Status, ["proxies"] = done }, error.Status);
                }
            }

            return Json(new JsonObject { ["proxies"] = done }, StatusCodes.Status201Created);
        }).ConfigureAwait(false);
    }

    private async Task<IResult> CreateToxicAsync(string proxy, HttpContext context)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var toxic = ToxiproxyToxic.Create(body.RootElement);
        return await Locked(() =>
        {
            _registry.Get(proxy).AddToxic(toxic);
            return Json(toxic.ToJson());
        }).ConfigureAwait(false);
    }

    private async Task<IResult> UpdateToxicAsync(string proxy, string toxic, HttpContext context)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        return await Locked(() =>
        {
            var owner = _registry.Get(proxy);
            var updated = owner.GetToxic(toxic).Update(body.RootElement);
            owner.ReplaceToxic(updated);
            return Json(updated.ToJson());
        }).ConfigureAwait(false);
    }

    private Task<IResult> Locked(Func<IResult> action) => _registry.LockedAsync(() => Task.FromResult(action()), CancellationToken.None);

    private Task<IResult> Locked(Func<Task<IResult>> action) => _registry.LockedAsync(action, CancellationToken.None);

    private static IResult Json(JsonNode body, int status = StatusCodes.Status200OK) =>
        Results.Text(body.ToJsonString(Output), "application/json", Encoding.UTF8, status);

    /// <summary>The body as JSON; a 400 in Toxiproxy's words when it is not (an empty body too).</summary>
    private static async Task<JsonDocument> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            throw ToxiproxyError.BadBody("not JSON: " + ex.Message);
        }
        catch (BadHttpRequestException ex)
        {
            throw new ToxiproxyError(ex.StatusCode, "bad request body: " + ex.Message);
        }
    }

    private static bool? OptionalBoolean(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw ToxiproxyError.BadBody($"{name} must be true or false");
}
