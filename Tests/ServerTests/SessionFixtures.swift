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

/// Splits each outbound buffer into one buffer per line, without its newline, so a test
/// reads one frame per outbound buffer (the session handler and the mailbox gather the
/// lines of a flush into one buffer instead).
final class LinePerBuffer: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        var lines: [ByteBuffer] = []
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(buffer.readSlice(length: newline - buffer.readerIndex)!)
            buffer.moveReaderIndex(forwardBy: 1)
        }
        if buffer.readableBytes > 0 { lines.append(buffer) }
        guard let last = lines.popLast() else {
            context.write(wrapOutboundOut(buffer), promise: promise)
            return
        }
        for line in lines { context.write(wrapOutboundOut(line), promise: nil) }
        context.write(wrapOutboundOut(last), promise: promise)
    }
}
