using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using EchoKit.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace EchoKit.Cli;

/// <summary>
/// <c>echokit serve --admin ENDPOINT</c>: a small HTTP API (Kestrel, minimal APIs) in the serve process to read and
/// change the fault rules of the running server and to probe it (docs/ADMIN.md). Plain HTTP, no authentication: it
/// is meant for loopback, and binds only the one endpoint the user names.
/// </summary>
internal sealed partial class AdminEndpoint : IAsyncDisposable
{
    /// <summary>The header of every <c>/faults</c> answer that carries <see cref="EchoServerFaults.Seed"/>.</summary>
    public const string SeedHeader = "EchoKit-Fault-Seed";

    private readonly EchoServer _server;
    private readonly ServeLifecycle _lifecycle;
    private readonly ILogger _logger;
    private readonly Action _faultsChanged;
    private readonly long _started = Stopwatch.GetTimestamp();

    // Set by StartAsync before the object is handed out: the routes are instance methods, mapped while the host is built.
    private AdminWebHost _host = null!;

    private AdminEndpoint(EchoServer server, ServeLifecycle lifecycle, ILogger logger, Action faultsChanged)
    {
        _server = server;
        _lifecycle = lifecycle;
        _logger = logger;
        _faultsChanged = faultsChanged;
    }

    /// <summary>The endpoint bound, with the real port when port 0 was asked for.</summary>
    public IPEndPoint EndPoint => _host.EndPoint;

    /// <summary>
    /// Reads <c>--admin</c>'s value: <c>127.0.0.1:9901</c>, <c>[::1]:9901</c>, <c>localhost:9901</c>, or a port alone
    /// (<c>9901</c>, <c>:9901</c>), which means loopback: unlike an echo listener, the admin API is never put on every
    /// interface unless the user writes so (<c>*:9901</c>, <c>0.0.0.0:9901</c>). Port 0 picks a free port.
    /// </summary>
    public static bool TryParseEndPoint(string text, out IPEndPoint value, out ValueError error)
    {
        value = null!;
        var trimmed = text.Trim();
        if (trimmed.StartsWith(':') || (trimmed.Length > 0 && trimmed.All(char.IsAsciiDigit)))
        {
            trimmed = "127.0.0.1:" + trimmed.TrimStart(':');
        }

        if (!ValueGrammar.TryParseEndPoint(trimmed, allowUnix: false, out var endPoint, out error))
        {
            error = error with { What = "an admin endpoint", Hint = "write 127.0.0.1:9901, [::1]:9901 or a port alone for loopback" };
            return false;
        }

        value = (IPEndPoint)endPoint;
        return true;
    }

    /// <summary>
    /// Binds <paramref name="endPoint"/> and starts answering. Kestrel's own messages go to
    /// <paramref name="logProvider"/> at Warning and above (or at <paramref name="logLevel"/> when that is higher).
    /// </summary>
    /// <exception cref="IOException">The endpoint could not be bound (Kestrel reports a port in use this way).</exception>
    public static async Task<AdminEndpoint> StartAsync(
        IPEndPoint endPoint, EchoServer server, ServeLifecycle lifecycle, ILoggerProvider? logProvider, LogLevel logLevel,
        ILogger logger, Action faultsChanged, CancellationToken cancellationToken)
    {
        var admin = new AdminEndpoint(server, lifecycle, logger, faultsChanged);
        admin._host = await AdminWebHost.StartAsync(endPoint, logProvider, logLevel, admin.Map, cancellationToken).ConfigureAwait(false);
        AdminLog.Listening(logger, admin.EndPoint);
        return admin;
    }

    /// <summary>Logs the start of <c>--drain-delay</c> with the admin endpoint's messages.</summary>
    public void LogDraining(TimeSpan delay) => AdminLog.Draining(_logger, delay);

    /// <summary>Stops answering: requests in flight get up to two seconds.</summary>
    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private void Map(WebApplication app)
    {
        // Delegate, not RequestDelegate: the handlers return an IResult to be written (ASP0016).
        // Every /faults answer (a 204 and a 400 too) carries the seed, so any one of them records it.
        var faults = app.MapGroup("/faults").AddEndpointFilter((invocation, next) =>
        {
            invocation.HttpContext.Response.Headers[SeedHeader] = SeedText;
            return next(invocation);
        });
        faults.MapGet("", (Delegate)GetFaults);
        faults.MapPut("", (Delegate)PutFaultsAsync);
        faults.MapPost("", (Delegate)PostFaultAsync);
        faults.MapDelete("", (Delegate)DeleteFaults);
        faults.MapGet("/seed", () => Results.Json(new SeedBody(_server.Faults.Seed), AdminJson.Default.SeedBody));
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => Results.Json(Probe(_lifecycle.Phase), AdminJson.Default.JsonObject));
        app.MapGet("/readyz", () =>
        {
            // One read of the phase for both the status and the body: a drain starting in between must not give 503 "serving".
            var phase = _lifecycle.Phase;
            return Results.Json(Probe(phase), AdminJson.Default.JsonObject, statusCode: phase == ServePhase.Serving
                ? StatusCodes.Status200OK
                : StatusCodes.Status503ServiceUnavailable);
        });
    }

    private string SeedText => _server.Faults.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private IResult GetFaults() => RulesResult();

    private async Task<IResult> PutFaultsAsync(HttpContext context)
    {
        var (document, problem) = await ReadJsonAsync(context).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using (document)
        {
            if (document!.RootElement.ValueKind != JsonValueKind.Array)
            {
                return BadRequest("Not a list of rules", $"the body must be a JSON array of rule strings, such as [\"latency:delay=50ms\"]; it is {Article(document.RootElement.ValueKind)}");
            }

            var rules = new List<EchoFault>();
            var index = 0;
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (ReadRule(element, index, out var rule) is { } bad)
                {
                    return bad;
                }

                rules.Add(rule!);
                index++;
            }

            // Every rule read: the whole list goes in force at once, or (above) nothing changed.
            _server.Faults.Replace(rules);
        }

        return Changed(context, "PUT");
    }

    private async Task<IResult> PostFaultAsync(HttpContext context)
    {
        var (document, problem) = await ReadJsonAsync(context).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using (document)
        {
            if (ReadRule(document!.RootElement, index: null, out var rule) is { } bad)
            {
                return bad;
            }

            _server.Faults.Add(rule!);
        }

        return Changed(context, "POST");
    }

    private IResult DeleteFaults(HttpContext context)
    {
        _server.Faults.Clear();
        Notify(context, "DELETE");
        return Results.NoContent();
    }

    private IResult Changed(HttpContext context, string method)
    {
        Notify(context, method);
        return RulesResult();
    }

    private void Notify(HttpContext context, string method)
    {
        AdminLog.FaultsChanged(_logger, method, context.Connection.RemoteIpAddress, _server.Faults.Rules.Count);
        _faultsChanged();
    }

    private IResult RulesResult() =>
        Results.Json(_server.Faults.Rules.Select(r => r.ToString()).ToArray(), AdminJson.Default.StringArray);

    /// <summary>One rule: a JSON string that <see cref="EchoFault.TryParse(string?, out EchoFault?, out string?)"/> reads; else the 400 to answer.</summary>
    private static IResult? ReadRule(JsonElement element, int? index, out EchoFault? rule)
    {
        rule = null;
        if (element.ValueKind != JsonValueKind.String)
        {
            return BadRule(index, null, $"a rule is a JSON string, such as \"latency:delay=50ms\"; this is {Article(element.ValueKind)}");
        }

        var text = element.GetString()!;
        return EchoFault.TryParse(text, out rule, out var error) ? null : BadRule(index, text, error);
    }

    /// <summary>The body as JSON, or the 400 (413 when too large) to answer.</summary>
    private static async Task<(JsonDocument? Document, IResult? Problem)> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return (await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false), null);
        }
        catch (JsonException ex)
        {
            return (null, BadRequest("Not JSON", $"the body is not JSON: {ex.Message}"));
        }
        catch (BadHttpRequestException ex)
        {
            return (null, Results.Problem(title: "Bad request", detail: ex.Message, statusCode: ex.StatusCode));
        }
    }

    private static IResult BadRequest(string title, string detail) =>
        Results.Problem(title: title, detail: detail, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>A 400 naming the rule; <c>index</c> only for PUT's list (a POST sends one rule, at no position).</summary>
    private static IResult BadRule(int? index, string? text, string error)
    {
        var extensions = new Dictionary<string, object?> { ["rule"] = text, ["error"] = error };
        if (index is { } position)
        {
            extensions["index"] = position;
        }

        return Results.Problem(
            title: "Invalid fault rule",
            detail: index is { } i ? $"rule {i}{(text is null ? "" : $" ('{text}')")}: {error}; no rule was changed" : $"{(text is null ? "" : $"'{text}': ")}{error}; no rule was changed",
            statusCode: StatusCodes.Status400BadRequest,
            extensions: extensions);
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "a string",
    };

    /// <summary><c>{"status":"serving","uptimeSeconds":…, …the server's statistics}</c>, flat, in camel case.</summary>
    private JsonObject Probe(ServePhase phase)
    {
        var body = new JsonObject
        {
            ["status"] = phase.ToString().ToLowerInvariant(),
            ["uptimeSeconds"] = Math.Round(Stopwatch.GetElapsedTime(_started).TotalSeconds, 3),
        };
        if (JsonSerializer.SerializeToNode(_server.GetStatistics(), AdminJson.Default.EchoServerStatistics) is JsonObject statistics)
        {
            foreach (var (name, value) in statistics.ToList())
            {
                statistics.Remove(name);
                body[name] = value;
            }
        }

        return body;
    }

    /// <summary>The body of <c>GET /faults/seed</c>.</summary>
    internal sealed record SeedBody(int Seed);

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(string[]))]
    [JsonSerializable(typeof(SeedBody))]
    [JsonSerializable(typeof(JsonObject))]
    [JsonSerializable(typeof(EchoServerStatistics))]
    private sealed partial class AdminJson : JsonSerializerContext;
}
