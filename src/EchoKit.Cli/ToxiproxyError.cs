using Microsoft.AspNetCore.Http;

namespace EchoKit.Cli;

/// <summary>
/// An answer of the Toxiproxy-compatible API that is not a success: written as Toxiproxy writes its <c>ApiError</c>,
/// <c>{"error": "proxy not found", "status": 404}</c>, with the same messages where Toxiproxy has one (api.go), so a
/// client that shows or matches them sees what it would from Toxiproxy.
/// </summary>
internal sealed class ToxiproxyError(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status of the answer, repeated in its <c>status</c> field.</summary>
    public int Status { get; } = status;

    public static ToxiproxyError ProxyNotFound() => new(StatusCodes.Status404NotFound, "proxy not found");

    public static ToxiproxyError ProxyAlreadyExists() => new(StatusCodes.Status409Conflict, "proxy already exists");

    public static ToxiproxyError ToxicNotFound() => new(StatusCodes.Status404NotFound, "toxic not found");

    public static ToxiproxyError ToxicAlreadyExists() => new(StatusCodes.Status409Conflict, "toxic already exists");

    public static ToxiproxyError InvalidStream() =>
        new(StatusCodes.Status400BadRequest, "stream was invalid, can be either upstream or downstream");

    /// <summary>Toxiproxy's <c>bad request body: DETAIL</c> (its JSON decoder's error; here ours, in words).</summary>
    public static ToxiproxyError BadBody(string detail) => new(StatusCodes.Status400BadRequest, "bad request body: " + detail);

    /// <summary>Toxiproxy's <c>missing required field: name</c> (or <c>upstream</c>, <c>name at proxy 2</c> for /populate).</summary>
    public static ToxiproxyError MissingField(string field) => new(StatusCodes.Status400BadRequest, "missing required field: " + field);

    /// <summary>
    /// Toxiproxy answers a listen it cannot bind with a 500 carrying the socket's error (its Go error has no status);
    /// the same here, so a client's handling of it is unchanged.
    /// </summary>
    public static ToxiproxyError CannotListen(string detail) => new(StatusCodes.Status500InternalServerError, detail);
}
