namespace EchoKit.Cli;

/// <summary>
/// Runs socket completions on the runtime's epoll thread instead of hopping to the thread pool: 1.1–1.4× the
/// message rate and a quarter less server CPU per message on 2 cores (docs/BENCHMARKS.md, <c>echokit</c> vs
/// <c>echokit-threadpool</c>). Safe here because this process runs no user code on completions; not with TLS,
/// whose handshakes would then do their cryptography on the one epoll thread and stall every other socket.
/// </summary>
internal static class InlineSocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Turns inline completions on unless the user set the variable (either way); takes effect only if no socket was
    /// created in this process yet, because the runtime reads the variable once, when its socket engine starts.
    /// </summary>
    public static void PreferUnlessSet()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
