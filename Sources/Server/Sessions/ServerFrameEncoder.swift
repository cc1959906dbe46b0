import NIOCore
import Shared

// Concrete, in the module that uses it, rather than generic in Shared: a generic handler
// from another module runs unspecialised code for every frame (metadata lookups and
// dynamic casts through `NIOAny`): 3,400 of 31,100 user-space instructions per relayed
// message by scripts/callgrind-relay.sh.

/// Writes `ServerFrame`s as lines: each frame is encoded straight into one buffer gathered
/// until the next flush, followed by its `"\n"`, so a flush is one write down the pipeline
/// (and one TLS record batch below) however many frames it carries, and no frame gets a
/// buffer of its own.
///
/// Gathered lines are passed on before a close, when the channel goes inactive and when the
/// handler is removed, so every write's promise completes. A write's promise completes
/// with the write of its batch.
final class ServerFrameEncoder: ChannelDuplexHandler, RemovableChannelHandler {
    /// Inbound traffic passes through untouched; only `channelInactive` matters here.
    typealias InboundIn = NIOAny
    typealias OutboundIn = ServerFrame
    /// Whole lines, terminators included.
    typealias OutboundOut = ByteBuffer

    private var gathered = GatheredLines()

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        // Room for a few frames: the buffer lives only until the flush.
        gathered.append(promise: promise, allocator: context.channel.allocator, capacity: 1024) {
            frame.encode(into: &$0)
        }
    }

    func flush(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        passLinesOn(context: context)
        context.close(mode: mode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        passLinesOn(context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        passLinesOn(context: context)
    }

    private func passLinesOn(context: ChannelHandlerContext) {
        guard let (lines, promise) = gathered.take() else { return }
        context.write(wrapOutboundOut(lines), promise: promise)
    }
}

@available(*, unavailable)
extension ServerFrameEncoder: Sendable {}
