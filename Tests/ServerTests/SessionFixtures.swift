import NIOCore
import Shared

@testable import Server

/// The services a session test runs against, with handles on the parts tests look into.
struct TestServices {
    var sessionServices: SessionServices
    let registry: InProcessPresence<SessionMailbox>
    let delivery: DeliveryService
    let keys: KeyDirectory

    /// The per-session stalled-reader timeout, as the server's option sets it.
    var stalledReaderTimeout: TimeAmount {
        get { sessionServices.limits.stalledReaderTimeout }
        set { sessionServices.limits.stalledReaderTimeout = newValue }
    }
}

/// Encodes each outbound `ServerFrame` into a buffer of its own, without a newline, so a
/// test reads one frame per outbound buffer (the server's `FrameEncoder` gathers frames
/// into lines until a flush instead).
final class FramePerBuffer: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ServerFrame
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(unwrapOutboundIn(data).encode(allocator: context.channel.allocator)), promise: promise)
    }
}
