namespace EchoKit.Internal;

/// <summary><c>corrupt</c>: flips one bit in roughly every <c>every</c> echoed bytes, at positions drawn from the seed; once per received byte, before the first piece.</summary>
internal sealed class CorruptFaultStage(EchoFault rule) : StreamFaultStage(rule)
{
    private readonly long _every = rule.CorruptEvery;
    private long _left;

    /// <summary>Last: it flips only bytes that will be echoed.</summary>
    public override int ReceiveOrder => 1;

    public override void OnReceived(ref FaultedEcho echo, ref FaultRandom random)
    {
        var bytes = echo.Bytes[..echo.Count];
        var at = 0L;
        while (true)
        {
            if (_left <= 0)
            {
                // Uniform from 1 to 2 * every - 1: the gaps average every bytes, and no two flips hit one byte.
                _left = _every == 1 ? 1 : 1 + (long)(random.NextDouble() * (2 * _every - 1));
            }

            if (at + _left > bytes.Length)
            {
                _left -= bytes.Length - at;
                return;
            }

            at += _left;
            _left = 0;
            bytes[(int)at - 1] ^= (byte)(1 << random.NextInt(0, 7));
        }
    }
}
