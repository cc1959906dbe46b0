import NIOCore

/// A frame that can be read from one line of the protocol.
public protocol LineDecodableFrame: Sendable {
    /// Decodes one line (without its newline). A line that is not a valid frame is not a
    /// stream error: it is answered (`ProtocolError`) and the session goes on.
    static func decode(_ line: ByteBuffer) -> Result<Self, ProtocolError>
}

/// A frame that can be written as one line of the protocol.
public protocol LineEncodableFrame: Sendable {
    /// The frame's JSON, without the line terminator, appended to `buffer`.
    func encode(into buffer: inout ByteBuffer)
}

extension ClientFrame: LineDecodableFrame, LineEncodableFrame {
    public func encode(into buffer: inout ByteBuffer) {
        self.encodeAppending(to: &buffer)
    }
}

extension ServerFrame: LineDecodableFrame, LineEncodableFrame {
    public func encode(into buffer: inout ByteBuffer) {
        self.encodeAppending(to: &buffer)
    }
}

/// Turns each line from `LineFrameDecoder` into a typed frame, or into the `ProtocolError`
/// that says why it is not one: the handler above sees `Result<Frame, ProtocolError>` and
/// never parses bytes itself.
public final class FrameDecoder<Frame: LineDecodableFrame>: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Result<Frame, ProtocolError>

    /// Creates a decoder.
    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(wrapInboundOut(Frame.decode(unwrapInboundIn(data))))
    }
}

@available(*, unavailable)
extension FrameDecoder: Sendable {}

/// Writes typed frames as lines: each frame is encoded straight into one buffer gathered
/// until the next flush, followed by its `"\n"`, so a flush is one write down the pipeline
/// (and one TLS record batch below) however many frames it carries, and no frame gets a
/// buffer of its own.
///
/// Gathered lines are passed on before a close, when the channel goes inactive and when the
/// handler is removed, so every write's promise completes. A write's promise completes
/// with the write of its batch.
public final class FrameEncoder<Frame: LineEncodableFrame>: ChannelDuplexHandler, RemovableChannelHandler {
    /// Inbound traffic passes through untouched; only `channelInactive` matters here.
    public typealias InboundIn = NIOAny
    public typealias OutboundIn = Frame
    /// Whole lines, terminators included.
    public typealias OutboundOut = ByteBuffer

    private var lines: ByteBuffer?
    private var linesPromise: EventLoopPromise<Void>?

    /// Creates an encoder.
    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if lines == nil {
            // Room for a few frames: the buffer lives only until the flush.
            lines = context.channel.allocator.buffer(capacity: 1024)
        }
        unwrapOutboundIn(data).encode(into: &lines!)
        lines!.writeInteger(UInt8(ascii: "\n"))
        if let promise {
            if let linesPromise {
                linesPromise.futureResult.cascade(to: promise)
            } else {
                linesPromise = promise
            }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        passLinesOn(context: context)
        context.close(mode: mode, promise: promise)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        passLinesOn(context: context)
    }

    private func passLinesOn(context: ChannelHandlerContext) {
        guard let lines else { return }
        let promise = linesPromise
        self.lines = nil
        self.linesPromise = nil
        context.write(wrapOutboundOut(lines), promise: promise)
    }
}

@available(*, unavailable)
extension FrameEncoder: Sendable {}
