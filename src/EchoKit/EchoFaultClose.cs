namespace EchoKit;

/// <summary>How a fault ends a connection: abortively (RST) or gracefully (FIN).</summary>
public enum EchoFaultClose
{
    /// <summary>FIN: a graceful close (<c>close</c> in the grammar).</summary>
    Close = 0,

    /// <summary>RST: an abortive close with linger 0 (<c>reset</c> in the grammar); the client reads a connection reset.</summary>
    Reset = 1,
}
