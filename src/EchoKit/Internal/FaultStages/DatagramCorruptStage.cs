namespace EchoKit.Internal;

/// <summary><c>corrupt</c>: one bit is flipped in roughly every <c>every</c> echoed bytes; length and order are kept.</summary>
internal sealed class DatagramCorruptStage : IDatagramStage
{
    private const ulong CorruptSalt = 0x8CB92BA72F3D8DD7;

    /// <inheritdoc/>
    public EchoFaultType Type => EchoFaultType.Corrupt;

    /// <inheritdoc/>
    public bool Apply(EchoFault rule, ref Datagram datagram) => Corrupt(datagram.Payload, datagram.Key, rule.CorruptEvery) > 0;

    /// <summary>
    /// Flips one bit in each of some bytes of <paramref name="payload"/>, each byte with probability 1 /
    /// <paramref name="every"/>, at positions and bits drawn from the datagram's <paramref name="key"/>. The gaps between
    /// flipped bytes are geometric, which has no memory: a datagram's flips do not depend on the ones before it, and
    /// the flips still average one per <paramref name="every"/> echoed bytes over any number of datagrams. Returns the
    /// number of bits flipped.
    /// </summary>
    private static int Corrupt(Span<byte> payload, ulong key, long every)
    {
        var random = new FaultRandom(key ^ CorruptSalt);
        // ln(1 - p) through LogP1, which stays exact (and below zero) however large every is.
        var logStay = every == 1 ? 0 : double.LogP1(-1.0 / every);
        var flipped = 0;
        var at = -1L;
        while (true)
        {
            // The gap to the next flipped byte: 1 + floor(ln(u) / ln(1 - p)), u in (0, 1], is geometric with mean 1 / p.
            var gap = every == 1 ? 1 : 1 + Math.Floor(double.LogP1(-random.NextDouble()) / logStay);
            if (at + gap >= payload.Length)
            {
                return flipped;
            }

            at += (long)gap;
            payload[(int)at] ^= (byte)(1 << random.NextInt(0, 7));
            flipped++;
        }
    }
}
