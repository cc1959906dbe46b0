import NIOCore

/// Writes each outbound frame followed by `"\n"`.
///
/// The frame must not contain a newline itself. Frames from `ClientFrame.encode()` and
/// `ServerFrame.encode()` never do: JSON escapes newlines inside strings.
///
/// Lines written between two flushes are gathered into one buffer, which goes down the pipeline
/// as one write when the flush comes: one copy of each frame and one write per flush, and
/// `TLSHandler` encrypts that buffer as it is. Passing each frame on untouched, followed by a
/// shared one-byte newline buffer, would cost two pipeline writes per frame, and `TLSHandler`
/// would then copy both halves into one record anyway. (Appending the newline to the frame's
/// own buffer would copy the frame too: the caller still holds a reference to it.)
///
/// Nothing is held back that was not held back before: the TLS handler below also keeps writes
/// until a flush. Gathered lines are passed on before a close and when the handler is removed,
/// and when the channel goes inactive, so their promises always complete. A write's promise
/// completes with the write of its batch, so after the whole line.
public final class LineFrameEncoder: ChannelDuplexHandler, RemovableChannelHandler {
    /// Inbound traffic passes through untouched; only `channelInactive` matters here.
    public typealias InboundIn = NIOAny
    /// One frame, without its line terminator.
    public typealias OutboundIn = ByteBuffer
    /// Whole lines, terminators included.
    public typealias OutboundOut = ByteBuffer

    /// Lines written since the last flush, and their promises.
    private var gathered = GatheredLines()

    /// Creates an encoder.
    public init() {}

    /// Appends the frame and its newline to the lines for the next flush.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        // Room for a few more frames: the buffer lives only until the flush, and regrowing
        // it copies what was gathered.
        gathered.append(
            promise: promise, allocator: context.channel.allocator, capacity: max(frame.readableBytes + 1, 1024)
        ) { $0.writeImmutableBuffer(frame) }
    }

    /// Passes the gathered lines on, then the flush.
    public func flush(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.flush()
    }

    /// Passes the gathered lines on first, so a close treats them exactly as it treats any
    /// write the TLS handler holds.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        passLinesOn(context: context)
        context.close(mode: mode, promise: promise)
    }

    /// Passes the gathered lines on: below, a closed channel fails their promises.
    public func channelInactive(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.fireChannelInactive()
    }

    /// Passes the gathered lines on, unflushed, as they would have been without this handler.
    public func handlerRemoved(context: ChannelHandlerContext) {
        passLinesOn(context: context)
    }

    private func passLinesOn(context: ChannelHandlerContext) {
        guard let (lines, promise) = gathered.take() else { return }
        context.write(wrapOutboundOut(lines), promise: promise)
    }
}

// Channel handlers live on one event loop; the gathered lines are unsynchronised.
@available(*, unavailable)
extension LineFrameEncoder: Sendable {}
