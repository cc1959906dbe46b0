import NIOCore
import Shared

/// The handler above TLS on a `handshakes` connection, which never carries a frame:
/// completes a promise when the handshake has verified the server and fails it when the
/// connection ends first. No codec and no `ClientSessionHandler` above it to build, run and
/// tear down for every handshake.
///
/// Loop-bound like every handler.
final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var promise: EventLoopPromise<Void>?

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted {
            complete(with: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The server sends no frame before `hello`; anything else is not ours to read.
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        complete(with: error)
        // Through the channel so the TLS handler still tries to send close_notify.
        context.channel.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(with: BenchError.connectionClosed)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        complete(with: BenchError.connectionClosed)
    }

    private func complete(with error: Error?) {
        guard let promise else { return }
        self.promise = nil
        if let error {
            promise.fail(error)
        } else {
            promise.succeed(())
        }
    }
}

@available(*, unavailable)
extension HandshakeWatcher: Sendable {}
