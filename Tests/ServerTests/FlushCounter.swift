import NIOCore
import Shared

/// Counts the flushes that pass through it, for the tests that check frames are coalesced
/// (one TLS record batch and one syscall per batch, not per frame). Readable from any thread.
final class FlushCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let count = Locked(0)

    /// Flushes seen so far.
    var flushes: Int { count.withLock { $0 } }

    func flush(context: ChannelHandlerContext) {
        count.withLock { $0 += 1 }
        context.flush()
    }
}
