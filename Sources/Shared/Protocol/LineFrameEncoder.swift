import NIOCore

/// Writes each outbound frame followed by `"\n"`.
///
/// The frame must not contain a newline itself. Frames from `ClientFrame.encode()` and
/// `ServerFrame.encode()` never do: JSON escapes newlines inside strings.
///
/// The frame's buffer goes on down the pipeline untouched, followed by a shared one-byte
/// newline buffer: no copy and no allocation per frame. (A `MessageToByteEncoder` copies every
/// frame into its output buffer and allocates a new one whenever the last is still queued
/// below; appending to the frame's own buffer here would copy it too, because the pipeline
/// still holds a reference.) `TLSHandler` gathers both into one record anyway. The write's
/// promise completes with the newline, so after the whole line.
public final class LineFrameEncoder: ChannelOutboundHandler {
    /// One frame, without its line terminator.
    public typealias OutboundIn = ByteBuffer
    /// The frame, then its line terminator.
    public typealias OutboundOut = ByteBuffer

    private static let newline = ByteBuffer(integer: UInt8(ascii: "\n"))

    /// Creates an encoder.
    public init() {}

    /// Passes the frame on, then the newline.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: nil)
        context.write(wrapOutboundOut(Self.newline), promise: promise)
    }
}

// Kept out of Sendable like the decoder, so both can gain per-channel state without an API break.
@available(*, unavailable)
extension LineFrameEncoder: Sendable {}
