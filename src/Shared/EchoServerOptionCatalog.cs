using System.Diagnostics.CodeAnalysis;
using System.Net;
using static EchoKit.Shared.ValueGrammar;

namespace EchoKit.Shared;

/// <summary>Which of the two ways of setting options a value came through; errors name the option in its words.</summary>
internal enum OptionSource
{
    /// <summary>A configuration key of EchoKit.Hosting (<c>EchoServer:Udp:MaxDatagramSize</c>).</summary>
    Configuration,

    /// <summary>An <c>echokit serve</c> flag (<c>--udp-max-datagram-size</c>).</summary>
    CommandLine,
}

/// <summary>
/// One option of <see cref="EchoServerOptions"/> (or of its <c>Udp</c> and <c>Tls</c> settings), declared once: its
/// property, flag, configuration key, help text, the grammar of its value, and how to read and set it. The
/// configuration binder of EchoKit.Hosting and the flags of <c>echokit serve</c> are both built from
/// <see cref="EchoServerOptionCatalog.All"/>; defaults are never written here, they are read from
/// <c>new EchoServerOptions()</c>.
/// </summary>
internal abstract class EchoServerOptionDescription
{
    private protected EchoServerOptionDescription(string property, string flag, string valueName, string help)
    {
        Property = property;
        Flag = flag;
        ValueName = valueName;
        Help = help;
    }

    /// <summary>The property path as <see cref="EchoServerOptions.Validate"/> names it: <c>MaxConnections</c>, <c>Udp.MaxDatagramSize</c>.</summary>
    public string Property { get; }

    /// <summary>The configuration key under a server's section: the property path with <c>:</c> (<c>Udp:MaxDatagramSize</c>).</summary>
    public string Key => Property.Replace('.', ':');

    /// <summary>The <c>echokit serve</c> flag: <c>--udp-max-datagram-size</c>.</summary>
    public string Flag { get; }

    /// <summary>What the flag's value is called in help: <c>size</c>, <c>time|off</c>.</summary>
    public string ValueName { get; }

    /// <summary>What the option does, in one sentence, without its default.</summary>
    public string Help { get; }

    /// <summary>Whether the option holds a list (several values, from repeated flags or an array).</summary>
    public abstract bool IsList { get; }

    /// <summary>Whether the flag may be given without a value, which then means <c>true</c>.</summary>
    public virtual bool FlagValueIsOptional => false;

    /// <summary>The default, as the grammar writes it, from <c>new EchoServerOptions()</c>: <c>10000</c>, <c>30s</c>, <c>64KiB</c>, <c>off</c>.</summary>
    public string DefaultText => Format(new EchoServerOptions());

    /// <summary>The option's name where a value came from: its flag or its key.</summary>
    public string NameIn(OptionSource source) => source == OptionSource.CommandLine ? Flag : Key;

    /// <summary>The option's value in <paramref name="options"/>, as the grammar writes it.</summary>
    public abstract string Format(EchoServerOptions options);

    /// <summary>
    /// The items of a list written as one string (an environment variable, one flag value): separated by <c>;</c> or
    /// <c>,</c>, unless an item may hold a comma itself (a fault rule), then by <c>;</c> only.
    /// </summary>
    public virtual string[] SplitList(string text) => ValueGrammar.SplitList(text);

    /// <summary>Reads one value (or one item of a list) without setting anything.</summary>
    public abstract bool TryRead(string text, OptionSource source, out object? value, out ValueError error);

    /// <summary>Sets the option from values read by <see cref="TryRead"/>: a single value takes the last, a list takes them all.</summary>
    public abstract void Apply(EchoServerOptions options, IReadOnlyList<object?> values);

    /// <summary>
    /// The rule of <see cref="EchoServerOptions.Validate"/> that <paramref name="value"/> breaks on its own (such as
    /// <c>EchoServerOptions.MaxConnections must be greater than 0 (was 0).</c>), or <see langword="null"/>; lets a flag
    /// fail at once, naming itself, with the options' own rule rather than a copy of it.
    /// </summary>
    public virtual string? FindBrokenRule(object? value)
    {
        var scratch = new EchoServerOptions();
        scratch.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        Apply(scratch, [value]);
        try
        {
            scratch.Validate();
            return null;
        }
        catch (ArgumentException ex)
        {
            return RuleOf(ex);
        }
    }

    /// <summary>The rule a <c>Validate</c> method's <see cref="ArgumentException"/> states, without the " (Parameter 'x')" the runtime appends.</summary>
    public static string RuleOf(ArgumentException exception)
    {
        var suffix = exception.ParamName is null ? null : $" (Parameter '{exception.ParamName}')";
        return suffix is not null && exception.Message.EndsWith(suffix, StringComparison.Ordinal) ? exception.Message[..^suffix.Length] : exception.Message;
    }
}

/// <summary>An option with one value.</summary>
internal sealed class ScalarOption<T>(
    string property, string flag, string valueName, string help,
    Reader<T> read, Func<T, string> format, Func<EchoServerOptions, T> get, Action<EchoServerOptions, T> set)
    : EchoServerOptionDescription(property, flag, valueName, help)
{
    public override bool IsList => false;

    public override bool FlagValueIsOptional => typeof(T) == typeof(bool);

    public override string Format(EchoServerOptions options) => format(get(options));

    public override bool TryRead(string text, OptionSource source, out object? value, out ValueError error)
    {
        var parsed = read(text, out var typed, out error);
        value = typed;
        return parsed;
    }

    public override void Apply(EchoServerOptions options, IReadOnlyList<object?> values)
    {
        if (values.Count > 0)
        {
            set(options, (T)values[^1]!);
        }
    }
}

/// <summary>A list of whole numbers (ports) that replaces the default list when given, and is cleared by an empty one.</summary>
internal sealed class PortListOption(string property, string flag, string valueName, string help, Func<EchoServerOptions, ISet<int>> get)
    : EchoServerOptionDescription(property, flag, valueName, help)
{
    public override bool IsList => true;

    public override string Format(EchoServerOptions options) => FormatList(get(options).Order(), p => FormatNumber(p));

    public override bool TryRead(string text, OptionSource source, out object? value, out ValueError error)
    {
        var parsed = TryParseInt32(text, out var port, out error);
        value = port;
        return parsed;
    }

    public override void Apply(EchoServerOptions options, IReadOnlyList<object?> values)
    {
        var ports = get(options);
        ports.Clear();
        ports.UnionWith(values.Cast<int>());
    }
}

/// <summary>A list of endpoints, added to those already set (from code, configuration, or an earlier flag).</summary>
internal sealed class EndPointListOption(
    string property, string flag, string help, bool allowUnix, Func<EchoServerOptions, IEnumerable<EndPoint>> get, Action<EchoServerOptions, EndPoint> add)
    : EchoServerOptionDescription(property, flag, "endpoint", help)
{
    public override bool IsList => true;

    public override string Format(EchoServerOptions options) => FormatList(get(options), FormatEndPoint);

    /// <summary>None: one endpoint alone breaks no rule (a TLS one would only lack its certificate, which comes later); they are checked with the rest of the options.</summary>
    public override string? FindBrokenRule(object? value) => null;

    public override bool TryRead(string text, OptionSource source, out object? value, out ValueError error)
    {
        var parsed = TryParseEndPoint(text, allowUnix, out var endPoint, out error);
        if (!parsed && error.Detail == IPEndPointsOnly)
        {
            var unixGoesIn = source == OptionSource.CommandLine ? "--unix" : EchoServerOptionCatalog.EndPoints.Key;
            error = error with { Detail = $"{NameIn(source)} takes IP endpoints only; Unix domain sockets go in {unixGoesIn}" };
        }

        value = endPoint;
        return parsed;
    }

    public override void Apply(EchoServerOptions options, IReadOnlyList<object?> values)
    {
        foreach (var value in values)
        {
            add(options, (EndPoint)value!);
        }
    }
}

/// <summary>
/// The fault rules (<see cref="EchoServerOptions.Faults"/>), added to those already set; a rule holds commas
/// (<c>latency:delay=50ms,jitter=10ms</c>), so several in one string are separated by <c>;</c> only.
/// </summary>
internal sealed class NetworkListOption(string property, string flag, string help, Func<EchoServerOptions, IList<IPNetwork>> get)
    : EchoServerOptionDescription(property, flag, "cidr", help)
{
    public override bool IsList => true;

    public override string Format(EchoServerOptions options) => FormatList(get(options), n => n.ToString());

    public override string? FindBrokenRule(object? value) => null;

    public override bool TryRead(string text, OptionSource source, out object? value, out ValueError error)
    {
        var trimmed = text.Trim();
        var parsed = IPNetwork.TryParse(trimmed.Contains('/', StringComparison.Ordinal) ? trimmed : WholeAddress(trimmed), out var network);
        value = parsed ? network : null;
        error = parsed ? default : new ValueError("a network", "write ADDRESS/PREFIX, such as 127.0.0.0/8, 10.1.2.3/32 or ::1/128, or one address");
        return parsed;

        static string WholeAddress(string address) => IPAddress.TryParse(address, out var ip)
            ? $"{address}/{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}"
            : address;
    }

    public override void Apply(EchoServerOptions options, IReadOnlyList<object?> values)
    {
        foreach (var value in values)
        {
            get(options).Add((IPNetwork)value!);
        }
    }
}

internal sealed class FaultListOption(string property, string flag, string help)
    : EchoServerOptionDescription(property, flag, "rule", help)
{
    private static readonly string Hint = "write TYPE[:key=value,...], such as latency:delay=50ms,jitter=10ms, slice:size=1-16,delay=1ms, limit:bytes=4KiB,then=reset, reset:after=2s, refuse:mode=close or blackhole:close-after=5s (see docs/FAULTS.md)";

    public override bool IsList => true;

    public override string Format(EchoServerOptions options) =>
        options.Faults.Count == 0 ? EmptyList : string.Join(";", options.Faults.Select(f => f.ToString()));

    public override string[] SplitList(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>None: whether a rule fits an endpoint (<c>on=unix</c>) is checked with the rest of the options, once the endpoints are known.</summary>
    public override string? FindBrokenRule(object? value) => null;

    public override bool TryRead(string text, OptionSource source, out object? value, out ValueError error)
    {
        var parsed = EchoFault.TryParse(text, out var fault, out var problem);
        value = fault;
        error = parsed ? default : new ValueError("a fault rule", Hint, problem);
        return parsed;
    }

    public override void Apply(EchoServerOptions options, IReadOnlyList<object?> values)
    {
        foreach (var value in values)
        {
            options.Faults.Add((EchoFault)value!);
        }
    }
}

/// <summary>Every option of <see cref="EchoServerOptions"/> that a flag or a configuration key can set.</summary>
internal static class EchoServerOptionCatalog
{
    /// <summary>The TCP and Unix socket endpoints: <c>--tcp</c> (and <c>--unix</c>), <c>EndPoints</c>.</summary>
    public static readonly EchoServerOptionDescription EndPoints = new EndPointListOption(
        nameof(EchoServerOptions.EndPoints), "--tcp",
        "A TCP endpoint to listen on (repeatable): a port (every interface, IPv4 and IPv6), 127.0.0.1:PORT, [::1]:PORT, [::]:PORT, localhost:PORT; port 0 picks a free port. unix:PATH is a Unix domain socket, as --unix PATH.",
        allowUnix: true, o => o.EndPoints, (o, e) => o.EndPoints.Add(e));

    /// <summary>All of them, in the order of help and of the README's table.</summary>
    public static IReadOnlyList<EchoServerOptionDescription> All { get; } =
    [
        EndPoints,
        new EndPointListOption(
            nameof(EchoServerOptions.UdpEndPoints), "--udp",
            "A UDP endpoint to listen on (repeatable), written like --tcp; each datagram is sent back to its source.",
            allowUnix: false, o => o.UdpEndPoints, (o, e) => o.UdpEndPoints.Add((IPEndPoint)e)),
        new EndPointListOption(
            nameof(EchoServerOptions.TlsEndPoints), "--tls",
            "A TLS endpoint to listen on (repeatable), written like --tcp; needs --tls-cert or --tls-self-signed.",
            allowUnix: false, o => o.TlsEndPoints, (o, e) => o.TlsEndPoints.Add((IPEndPoint)e)),
        Count(nameof(EchoServerOptions.MaxConnections), "--max-connections", "The most connections served at once; more are rejected.",
            o => o.MaxConnections, (o, v) => o.MaxConnections = v),
        OptionalCount(nameof(EchoServerOptions.MaxConnectionsPerAddress), "--max-connections-per-address", "The most connections at once from one IP address.",
            o => o.MaxConnectionsPerAddress, (o, v) => o.MaxConnectionsPerAddress = v),
        OptionalCount(nameof(EchoServerOptions.MaxConnectionRate), "--max-connection-rate", "The most new connections admitted per second.",
            o => o.MaxConnectionRate, (o, v) => o.MaxConnectionRate = v),
        OptionalDuration(nameof(EchoServerOptions.IdleTimeout), "--idle-timeout", "Close a connection after this long without traffic, such as 30s, 5m or 00:05:00.",
            o => o.IdleTimeout, (o, v) => o.IdleTimeout = v),
        OptionalDuration(nameof(EchoServerOptions.SendTimeout), "--send-timeout", "Close a connection whose echo cannot be written for this long because the client does not read.",
            o => o.SendTimeout, (o, v) => o.SendTimeout = v),
        OptionalDuration(nameof(EchoServerOptions.MaxConnectionLifetime), "--max-connection-lifetime", "Close a connection gracefully after this long.",
            o => o.MaxConnectionLifetime, (o, v) => o.MaxConnectionLifetime = v),
        new ScalarOption<long?>(nameof(EchoServerOptions.MaxBytesPerConnection), "--max-bytes-per-connection", "size|off",
            "Close a connection gracefully once it has echoed this much, such as 1g.",
            Optional<long>(TryParseSize), v => FormatOptional(v, FormatSize), o => o.MaxBytesPerConnection, (o, v) => o.MaxBytesPerConnection = v),
        Size(nameof(EchoServerOptions.ReceiveBufferSize), "--receive-buffer-size",
            "The bytes each receive fills, and the most echo data one connection holds, such as 4k or 64KiB (64 bytes to 16 MiB).",
            o => o.ReceiveBufferSize, (o, v) => o.ReceiveBufferSize = v),
        Count(nameof(EchoServerOptions.Backlog), "--backlog", "The kernel's queue of connections not yet accepted.",
            o => o.Backlog, (o, v) => o.Backlog = v),
        Duration(nameof(EchoServerOptions.ShutdownTimeout), "--shutdown-timeout", "How long a graceful stop lets connections finish their echoes before aborting them.",
            o => o.ShutdownTimeout, (o, v) => o.ShutdownTimeout = v),
        Boolean(nameof(EchoServerOptions.NoDelay), "--no-delay", "Disable Nagle's algorithm on TCP connections.",
            o => o.NoDelay, (o, v) => o.NoDelay = v),
        Boolean(nameof(EchoServerOptions.KeepAlive), "--keep-alive", "Enable TCP keep-alive probes.",
            o => o.KeepAlive, (o, v) => o.KeepAlive = v),
        Boolean(nameof(EchoServerOptions.DualMode), "--dual-mode", "Let an endpoint on [::] accept IPv4 clients too.",
            o => o.DualMode, (o, v) => o.DualMode = v),
        Boolean(nameof(EchoServerOptions.WaitForDataBeforeAllocatingBuffer), "--wait-for-data", "Take a receive buffer only when data arrives, so idle connections hold none.",
            o => o.WaitForDataBeforeAllocatingBuffer, (o, v) => o.WaitForDataBeforeAllocatingBuffer = v),
        Size("Udp." + nameof(UdpEchoOptions.MaxDatagramSize), "--udp-max-datagram-size", "The largest UDP datagram echoed; larger ones are dropped.",
            o => o.Udp.MaxDatagramSize, (o, v) => o.Udp.MaxDatagramSize = v),
        Count("Udp." + nameof(UdpEchoOptions.DatagramsInFlight), "--udp-datagrams-in-flight", "The UDP datagrams one socket handles at once, each in its own buffer.",
            o => o.Udp.DatagramsInFlight, (o, v) => o.Udp.DatagramsInFlight = v),
        new PortListOption("Udp." + nameof(UdpEchoOptions.BlockedSourcePorts), "--udp-blocked-ports", "ports|none",
            "UDP source ports never answered, separated by commas (repeatable); replaces the default list, none clears it.",
            o => o.Udp.BlockedSourcePorts),
        OptionalCount("Udp." + nameof(UdpEchoOptions.PerSourceRateLimit), "--udp-rate-limit", "The most UDP datagrams echoed per second to one source address.",
            o => o.Udp.PerSourceRateLimit, (o, v) => o.Udp.PerSourceRateLimit = v),
        Count("Udp." + nameof(UdpEchoOptions.MaxTrackedSources), "--udp-max-tracked-sources", "The source addresses the UDP rate limiter remembers.",
            o => o.Udp.MaxTrackedSources, (o, v) => o.Udp.MaxTrackedSources = v),
        Duration("Tls." + nameof(TlsEchoOptions.HandshakeTimeout), "--tls-handshake-timeout", "How long a client has, from connecting, to complete the TLS handshake.",
            o => o.Tls.HandshakeTimeout, (o, v) => o.Tls.HandshakeTimeout = v),
        new ScalarOption<System.Security.Authentication.SslProtocols>("Tls." + nameof(TlsEchoOptions.EnabledSslProtocols), "--tls-protocols", "names",
            "The TLS versions allowed, such as Tls12,Tls13; None lets the operating system choose (recommended).",
            TryParseSslProtocols, FormatSslProtocols, o => o.Tls.EnabledSslProtocols, (o, v) => o.Tls.EnabledSslProtocols = v),
        Boolean("Tls." + nameof(TlsEchoOptions.ClientCertificateRequired), "--tls-client-certificate-required",
            "Demand a client certificate, validated by the system against a trusted root.",
            o => o.Tls.ClientCertificateRequired, (o, v) => o.Tls.ClientCertificateRequired = v),
        Boolean("ProxyProtocol." + nameof(ProxyProtocolOptions.Enabled), "--proxy-protocol",
            "Expect a PROXY protocol header (v1 or v2, as HAProxy's send-proxy sends) at the start of every TCP, TLS and Unix socket connection.",
            o => o.ProxyProtocol.Enabled, (o, v) => o.ProxyProtocol.Enabled = v),
        new NetworkListOption("ProxyProtocol." + nameof(ProxyProtocolOptions.TrustedNetworks), "--proxy-trusted",
            "A network a load balancer may connect from (repeatable), such as 10.0.0.0/8; with none, every source is trusted.",
            o => o.ProxyProtocol.TrustedNetworks),
        Duration("ProxyProtocol." + nameof(ProxyProtocolOptions.HeaderTimeout), "--proxy-header-timeout", "How long a connection has, from accept, to deliver its whole PROXY header.",
            o => o.ProxyProtocol.HeaderTimeout, (o, v) => o.ProxyProtocol.HeaderTimeout = v),
        Count("ProxyProtocol." + nameof(ProxyProtocolOptions.MaxHeaderLength), "--proxy-max-header-length", "The longest PROXY v2 header accepted, in bytes, TLVs included.",
            o => o.ProxyProtocol.MaxHeaderLength, (o, v) => o.ProxyProtocol.MaxHeaderLength = v),
        new ScalarOption<string?>(nameof(EchoServerOptions.Greeting), "--greeting", "text|off",
            "Text written to each TCP, TLS and Unix socket connection before any echo, with {instance}, {remote} and {local} replaced and \\n, \\r, \\t, \\\\ read as escapes, such as 'hello from {instance}\\n'.",
            TextGrammar.TryParseGreeting, v => v is null ? Off : TextGrammar.Escape(v), o => o.Greeting, (o, v) => o.Greeting = v),
        new ScalarOption<string>(nameof(EchoServerOptions.InstanceName), "--instance-name", "name",
            "The name {instance} stands for in the greeting: letters, digits, '.', '-' and '_'; {machine} is the machine's name.",
            TextGrammar.TryParseInstanceName, TextGrammar.FormatInstanceName, o => o.InstanceName, (o, v) => o.InstanceName = v),
        new FaultListOption(nameof(EchoServerOptions.Faults), "--fault",
            "A fault rule (repeatable), such as latency:delay=50ms,jitter=10ms, reset:after=2s,toxicity=0.1 or drop:toxicity=0.1 (UDP); see docs/FAULTS.md."),
        OptionalCount(nameof(EchoServerOptions.FaultSeed), "--fault-seed", "The seed of the fault rules' random decisions, so a run can be replayed; off picks one at start and logs it.",
            o => o.FaultSeed, (o, v) => o.FaultSeed = v),
    ];

    /// <summary>The description of the option named <paramref name="property"/> (<c>Udp.MaxDatagramSize</c>).</summary>
    public static bool TryFind(string property, [NotNullWhen(true)] out EchoServerOptionDescription? description)
    {
        description = All.FirstOrDefault(d => string.Equals(d.Property, property, StringComparison.Ordinal));
        return description is not null;
    }

    private static ScalarOption<int> Count(string property, string flag, string help, Func<EchoServerOptions, int> get, Action<EchoServerOptions, int> set) =>
        new(property, flag, "n", help, TryParseInt32, v => FormatNumber(v), get, set);

    private static ScalarOption<int?> OptionalCount(string property, string flag, string help, Func<EchoServerOptions, int?> get, Action<EchoServerOptions, int?> set) =>
        new(property, flag, "n|off", help, Optional<int>(TryParseInt32), v => FormatOptional(v, n => FormatNumber(n)), get, set);

    private static ScalarOption<int> Size(string property, string flag, string help, Func<EchoServerOptions, int> get, Action<EchoServerOptions, int> set) =>
        new(property, flag, "size", help, TryParseInt32Size, v => FormatSize(v), get, set);

    private static ScalarOption<TimeSpan> Duration(string property, string flag, string help, Func<EchoServerOptions, TimeSpan> get, Action<EchoServerOptions, TimeSpan> set) =>
        new(property, flag, "time", help, TryParseDuration, FormatDuration, get, set);

    private static ScalarOption<TimeSpan?> OptionalDuration(string property, string flag, string help, Func<EchoServerOptions, TimeSpan?> get, Action<EchoServerOptions, TimeSpan?> set) =>
        new(property, flag, "time|off", help, Optional<TimeSpan>(TryParseDuration), v => FormatOptional(v, FormatDuration), get, set);

    private static ScalarOption<bool> Boolean(string property, string flag, string help, Func<EchoServerOptions, bool> get, Action<EchoServerOptions, bool> set) =>
        new(property, flag, "true|false", help, TryParseBoolean, FormatBoolean, get, set);
}

/// <summary>
/// The grammar of the text options: a greeting with the escapes <c>\n</c>, <c>\r</c>, <c>\t</c> and <c>\\</c> (a shell
/// or a JSON file cannot easily carry a raw line break), and an instance name, whose default (the machine's name)
/// is written <c>{machine}</c> so that help and the documentation show the same default everywhere.
/// </summary>
internal static class TextGrammar
{
    /// <summary>How <see cref="EchoServerOptions.InstanceName"/>'s default, <see cref="Environment.MachineName"/>, is written.</summary>
    public const string MachineName = "{machine}";

    private static readonly ValueError GreetingText = new("a greeting", "write text such as 'hello from {instance}\\n' (escapes: \\n, \\r, \\t, \\\\), or off");

    private static readonly ValueError Name = new("an instance name", $"write letters, digits, '.', '-' and '_', such as echo-1, or {MachineName} for the machine's name");

    /// <summary>Off (<see langword="null"/>) or the text with its escapes read; a backslash before anything else is an error.</summary>
    public static bool TryParseGreeting(string text, out string? value, out ValueError error)
    {
        value = null;
        error = default;
        if (IsOff(text))
        {
            return true;
        }

        var unescaped = new System.Text.StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '\\')
            {
                unescaped.Append(c);
                continue;
            }

            if (++i == text.Length || text[i] is not ('n' or 'r' or 't' or '\\'))
            {
                error = GreetingText with { Detail = i == text.Length ? "it ends in a lone backslash" : $"\\{text[i]} is no escape" };
                return false;
            }

            unescaped.Append(text[i] switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => '\\' });
        }

        value = unescaped.ToString();
        return true;
    }

    /// <summary>The text as <see cref="TryParseGreeting"/> reads it back.</summary>
    public static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);

    public static bool TryParseInstanceName(string text, out string value, out ValueError error)
    {
        var trimmed = text.Trim();
        error = default;
        value = trimmed == MachineName ? Environment.MachineName : trimmed;
        if (trimmed == MachineName || (trimmed.Length > 0 && trimmed.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_')))
        {
            return true;
        }

        value = "";
        error = Name;
        return false;
    }

    public static string FormatInstanceName(string value) => value == Environment.MachineName ? MachineName : value;
}
