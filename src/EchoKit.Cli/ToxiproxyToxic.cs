using System.Text.Json;
using System.Text.Json.Nodes;

namespace EchoKit.Cli;

/// <summary>
/// One toxic of a proxy as Toxiproxy shows it (<c>{"attributes": {…}, "name", "type", "stream", "toxicity"}</c>)
/// and the EchoKit rule it puts in force (<see langword="null"/> for one that does nothing, such as a bandwidth of
/// rate 0). Immutable: an update makes a new one.
/// </summary>
internal sealed record ToxiproxyToxic(string Name, string Type, FaultDirection Stream, double Toxicity, IReadOnlyList<KeyValuePair<string, JsonNode?>> Attributes, EchoFault? Rule)
{
    /// <summary>Reads the body of <c>POST /proxies/{proxy}/toxics</c>; defaults as Toxiproxy's: downstream, toxicity 1, name <c>TYPE_STREAM</c>.</summary>
    /// <exception cref="ToxiproxyError">A 400: not an object, a field of the wrong kind, a bad stream, type or attribute.</exception>
    public static ToxiproxyToxic Create(JsonElement body)
    {
        RequireObject(body);
        var stream = FaultDirection.Downstream;
        if (OptionalString(body, "stream") is { } streamText)
        {
            // Toxiproxy's stream.ParseDirection lowercases the text first.
            stream = streamText.ToLowerInvariant() switch
            {
                "downstream" => FaultDirection.Downstream,
                "upstream" => FaultDirection.Upstream,
                _ => throw ToxiproxyError.InvalidStream(),
            };
        }

        var type = OptionalString(body, "type") ?? "";
        var name = OptionalString(body, "name") is { Length: > 0 } given ? given : $"{type}_{StreamName(stream)}";
        var toxicity = OptionalNumber(body, "toxicity") ?? 1.0;
        return Build(name, type, stream, toxicity, MergeAttributes([], body));
    }

    /// <summary>
    /// Reads the body of <c>POST /proxies/{proxy}/toxics/{toxic}</c>: as in Toxiproxy, the attributes given replace
    /// those of the same name, <c>toxicity</c> is kept when absent, and name, type and stream cannot change (ignored).
    /// </summary>
    public ToxiproxyToxic Update(JsonElement body)
    {
        RequireObject(body);
        return Build(Name, Type, Stream, OptionalNumber(body, "toxicity") ?? Toxicity, MergeAttributes(Attributes, body));
    }

    /// <summary>A rule given to <c>echokit proxy --fault</c>, shown as a toxic of its EchoKit type with its keys as attributes.</summary>
    public static ToxiproxyToxic FromRule(EchoFault rule, string name)
    {
        // The rule's text is TYPE[:key=value,…]; stream and toxicity are the toxic's own fields.
        var text = rule.ToString();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var type = colon < 0 ? text : text[..colon];
        var attributes = colon < 0 ? [] : text[(colon + 1)..].Split(',')
            .Select(pair => pair.Split('=', 2))
            .Where(pair => pair[0] is not ("stream" or "toxicity"))
            .Select(pair => KeyValuePair.Create(pair[0], (JsonNode?)JsonValue.Create(pair.Length > 1 ? pair[1] : "")))
            .ToList();
        var shownType = ToxicTypes.Toxiproxy.ContainsKey(type) ? ToxicTypes.EchoKitPrefix + type : type;
        return new ToxiproxyToxic(name, shownType, rule.Stream, rule.Toxicity, attributes, rule);
    }

    /// <summary>The name Toxiproxy gives a toxic of <paramref name="type"/> on <paramref name="stream"/> when none is given.</summary>
    public static string DefaultName(string type, FaultDirection stream) => $"{type}_{StreamName(stream)}";

    /// <summary>Toxiproxy's name of a direction.</summary>
    public static string StreamName(FaultDirection stream) => stream == FaultDirection.Upstream ? "upstream" : "downstream";

    /// <summary>The toxic as Toxiproxy prints it, attributes first.</summary>
    public JsonObject ToJson() => new()
    {
        ["attributes"] = new JsonObject(Attributes.Select(a => KeyValuePair.Create(a.Key, a.Value?.DeepClone()))),
        ["name"] = Name,
        ["type"] = Type,
        ["stream"] = StreamName(Stream),
        ["toxicity"] = Toxicity,
    };

    private static ToxiproxyToxic Build(string name, string type, FaultDirection stream, double toxicity, List<KeyValuePair<string, JsonNode?>> given)
    {
        try
        {
            if (ToxicTypes.Toxiproxy.TryGetValue(type, out var toxiproxyType))
            {
                var values = ToxiproxyAttributes(type, toxiproxyType, given);
                var attributes = toxiproxyType.Attributes.Select(a => KeyValuePair.Create(a, (JsonNode?)JsonValue.Create(values[a]))).ToList();
                return new(name, type, stream, toxicity, attributes, toxiproxyType.ToRule(values)?.WithStream(stream).WithToxicity(toxicity));
            }

            if (ToxicTypes.EchoKitType(type) is { } echoKitType)
            {
                var rule = EchoKitRule(echoKitType, given).WithStream(stream).WithToxicity(toxicity);
                return new(name, type, stream, toxicity, given, rule);
            }
        }
        catch (ArgumentException ex)
        {
            var message = ex.ParamName is { } parameter ? ex.Message.Replace($" (Parameter '{parameter}')", "", StringComparison.Ordinal) : ex.Message;
            throw ToxiproxyError.BadBody($"{type}: {message}");
        }
        catch (OverflowException)
        {
            throw ToxiproxyError.BadBody($"{type}: an attribute is too large");
        }

        throw new ToxiproxyError(400, $"invalid toxic type: '{type}'; the types are {ToxicTypes.Known}");
    }

    /// <summary>Every attribute of a Toxiproxy type as a whole number (0 when not given); an unknown name or another kind of value is a 400.</summary>
    private static Dictionary<string, long> ToxiproxyAttributes(string type, ToxicType toxicType, List<KeyValuePair<string, JsonNode?>> given)
    {
        var values = toxicType.Attributes.ToDictionary(a => a, _ => 0L, StringComparer.Ordinal);
        foreach (var (key, node) in given)
        {
            if (!values.ContainsKey(key))
            {
                // Toxiproxy would ignore it; a misspelt attribute that silently does nothing is worse than a 400.
                throw ToxiproxyError.BadBody($"{type} has no attribute '{key}'; its attributes are {string.Join(", ", toxicType.Attributes)}");
            }

            values[key] = node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var number)
                ? number
                : throw ToxiproxyError.BadBody($"{type}: attribute '{key}' must be a whole number (was {node?.ToJsonString() ?? "null"})");
        }

        return values;
    }

    /// <summary>EchoKit's rule <c>TYPE:key=value,…</c> from the attributes; strings, numbers and booleans as written.</summary>
    private static EchoFault EchoKitRule(string type, List<KeyValuePair<string, JsonNode?>> given)
    {
        var pairs = new List<string>();
        foreach (var (key, node) in given)
        {
            var text = node is JsonValue value ? value.GetValueKind() switch
            {
                JsonValueKind.String => value.GetValue<string>(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.ToJsonString(),
                _ => null,
            } : null;
            if (key is "stream" or "toxicity" or "" || key.IndexOfAny([',', '=', ':']) >= 0 || text is null || text.IndexOfAny([',', '=']) >= 0)
            {
                throw ToxiproxyError.BadBody($"{type}: attribute '{key}' must be one of the rule's keys with a string, number or boolean value (stream and toxicity are the toxic's own fields)");
            }

            pairs.Add($"{key}={text}");
        }

        var ruleText = pairs.Count == 0 ? type : $"{type}:{string.Join(',', pairs)}";
        return EchoFault.TryParse(ruleText, out var rule, out var error) ? rule : throw ToxiproxyError.BadBody(error);
    }

    /// <summary><paramref name="current"/> with the body's <c>attributes</c> (when present) replacing those of the same name.</summary>
    private static List<KeyValuePair<string, JsonNode?>> MergeAttributes(IReadOnlyList<KeyValuePair<string, JsonNode?>> current, JsonElement body)
    {
        var merged = current.ToList();
        if (!body.TryGetProperty("attributes", out var attributes) || attributes.ValueKind == JsonValueKind.Null)
        {
            return merged;
        }

        if (attributes.ValueKind != JsonValueKind.Object)
        {
            throw ToxiproxyError.BadBody("attributes must be an object");
        }

        foreach (var property in attributes.EnumerateObject())
        {
            var node = JsonNode.Parse(property.Value.GetRawText());
            var index = merged.FindIndex(a => a.Key == property.Name);
            if (index >= 0)
            {
                merged[index] = KeyValuePair.Create(property.Name, node);
            }
            else
            {
                merged.Add(KeyValuePair.Create(property.Name, node));
            }
        }

        return merged;
    }

    private static void RequireObject(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ToxiproxyError.BadBody("the body must be a JSON object");
        }
    }

    internal static string? OptionalString(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw ToxiproxyError.BadBody($"{name} must be a string");

    internal static double? OptionalNumber(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.Number ? value.GetDouble()
        : throw ToxiproxyError.BadBody($"{name} must be a number");
}
