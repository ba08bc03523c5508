using System.Buffers.Binary;

namespace EchoKit.LoadGenerator;

/// <summary>
/// The content of every message the load client sends: an 8-byte header (connection id and sequence number)
/// followed by a pseudo-random fill that starts at an offset derived from the sequence number, so every message
/// on every connection differs. Messages are written and verified without allocating and without storing them.
/// </summary>
public sealed class MessagePattern
{
    /// <summary>How many bytes of each message carry the header (fewer when the message is smaller).</summary>
    public const int HeaderSize = 8;

    private const int OffsetRange = 256;

    // The header is (connection id << 40) ^ sequence ^ mask: 24 bits of id over 40 bits of sequence.
    private const int SequenceBits = 40;
    private const ulong HeaderMask = 0xA5A5_0000_0000_0000UL;

    private readonly byte[] _fill;

    /// <summary>Creates the pattern for messages of <paramref name="messageSize"/> bytes.</summary>
    /// <param name="messageSize">The message size in bytes, at least 1.</param>
    /// <param name="seed">The seed of the pseudo-random fill.</param>
    public MessagePattern(int messageSize, ulong seed = 0x9E3779B97F4A7C15UL)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(messageSize, 1);
        MessageSize = messageSize;
        _fill = new byte[Math.Max(0, messageSize - HeaderSize) + OffsetRange];
        var state = seed | 1;
        for (var i = 0; i < _fill.Length; i++)
        {
            // xorshift64*: cheap, deterministic, good enough to make every byte position distinct.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            _fill[i] = (byte)((state * 0x2545F4914F6CDD1DUL) >> 56);
        }
    }

    /// <summary>The size in bytes of every message.</summary>
    public int MessageSize { get; }

    /// <summary>Writes message <paramref name="sequence"/> of connection <paramref name="connectionId"/> into <paramref name="destination"/>.</summary>
    /// <param name="connectionId">Distinguishes connections (only the low 24 bits are used).</param>
    /// <param name="sequence">The message's sequence number on its connection.</param>
    /// <param name="destination">At least <see cref="MessageSize"/> bytes.</param>
    public void Write(int connectionId, long sequence, Span<byte> destination)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header, Header(connectionId, sequence));
        var headerLength = Math.Min(HeaderSize, MessageSize);
        header[..headerLength].CopyTo(destination);
        _fill.AsSpan(FillOffset(sequence), MessageSize - headerLength).CopyTo(destination[headerLength..]);
    }

    /// <summary>
    /// Whether <paramref name="received"/> equals the bytes of message <paramref name="sequence"/> that start at
    /// <paramref name="offset"/> within that message.
    /// </summary>
    /// <param name="connectionId">As given to <see cref="Write"/>.</param>
    /// <param name="sequence">As given to <see cref="Write"/>.</param>
    /// <param name="offset">Where in the message <paramref name="received"/> starts.</param>
    /// <param name="received">Bytes received; must not run past the end of the message.</param>
    /// <returns><see langword="true"/> when every byte matches.</returns>
    public bool Verify(int connectionId, long sequence, int offset, ReadOnlySpan<byte> received)
    {
        if (offset < 0 || offset + received.Length > MessageSize)
        {
            return false;
        }

        var headerLength = Math.Min(HeaderSize, MessageSize);
        if (offset < headerLength)
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            BinaryPrimitives.WriteUInt64LittleEndian(header, Header(connectionId, sequence));
            var take = Math.Min(headerLength - offset, received.Length);
            if (!received[..take].SequenceEqual(header.Slice(offset, take)))
            {
                return false;
            }

            received = received[take..];
            offset += take;
        }

        return received.IsEmpty
            || received.SequenceEqual(_fill.AsSpan(FillOffset(sequence) + offset - headerLength, received.Length));
    }

    /// <summary>
    /// Reads the connection id and sequence number from the header of a received message, so a message that may
    /// arrive out of order (a UDP datagram) can be matched to the one sent. Valid for sequence numbers below 2^40.
    /// </summary>
    /// <param name="message">The message; at least <see cref="HeaderSize"/> bytes.</param>
    /// <param name="connectionId">The low 24 bits of the connection id given to <see cref="Write"/>.</param>
    /// <param name="sequence">The sequence number given to <see cref="Write"/>.</param>
    /// <returns><see langword="false"/> when the message is shorter than the header.</returns>
    public static bool TryReadHeader(ReadOnlySpan<byte> message, out int connectionId, out long sequence)
    {
        if (message.Length < HeaderSize)
        {
            connectionId = 0;
            sequence = 0;
            return false;
        }

        var value = BinaryPrimitives.ReadUInt64LittleEndian(message) ^ HeaderMask;
        connectionId = (int)(value >> SequenceBits);
        sequence = (long)(value & ((1UL << SequenceBits) - 1));
        return true;
    }

    private static ulong Header(int connectionId, long sequence) =>
        ((ulong)(uint)connectionId << SequenceBits) ^ (ulong)sequence ^ HeaderMask;

    private static int FillOffset(long sequence) => (int)(((ulong)sequence * 0x9E3779B97F4A7C15UL) >> 56);
}
