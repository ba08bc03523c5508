using System.Globalization;
using EchoKit.Internal;
using EchoKit.Shared;

namespace EchoKit;

/// <summary>The writer of the grammar: each rule's shortest form, from the keys <see cref="FaultTypes"/> declares for its type.</summary>
public sealed partial class EchoFault
{
    /// <summary>The rule in its shortest form: the type's keys in their order, those at their default left out, then <c>toxicity</c>, <c>on</c> and <c>stream</c>.</summary>
    private string Format()
    {
        var info = FaultTypes.Of(Type);
        var keys = new List<string>();
        foreach (var key in info.Keys)
        {
            if (key.Format(this) is { } value)
            {
                keys.Add($"{key.Name}={value}");
            }
        }

        if (Toxicity != 1)
        {
            keys.Add("toxicity=" + Toxicity.ToString("R", CultureInfo.InvariantCulture));
        }

        if (TargetTransport is { } transport)
        {
            keys.Add("on=" + transport.ToString().ToLowerInvariant());
        }
        else if (TargetEndPoint is { } endPoint)
        {
            keys.Add("on=" + ValueGrammar.FormatEndPoint(endPoint));
        }

        if (Stream == FaultDirection.Upstream)
        {
            keys.Add("stream=upstream");
        }

        return keys.Count == 0 ? info.Name : info.Name + ":" + string.Join(",", keys);
    }
}
