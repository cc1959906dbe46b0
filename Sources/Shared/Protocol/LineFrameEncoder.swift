import NIOCore

/// Writes each outbound frame followed by `"\n"`.
///
/// The frame must not contain a newline itself. Frames from `ClientFrame.encode()` and
/// `ServerFrame.encode()` never do: JSON escapes newlines inside strings.
public final class LineFrameEncoder: MessageToByteEncoder {
    /// One frame, without its line terminator.
    public typealias OutboundIn = ByteBuffer

    /// Creates an encoder.
    public init() {}

    /// Appends the frame and its newline to `out`.
    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.writeImmutableBuffer(data)
        out.writeInteger(UInt8(ascii: "\n"))
    }
}

// Kept out of Sendable like the decoder, so both can gain per-channel state without an API break.
@available(*, unavailable)
extension LineFrameEncoder: Sendable {}
