import Logging
import NIOCore
import Shared

/// One admin connection: reads the request line, answers it through `AdminService`, closes.
final class AdminConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: AdminService
    private let peer: PeerCredentials
    private let logger: Logger
    private var answered = false
    private var timeout: Scheduled<Void>?

    init(service: AdminService, peer: PeerCredentials, logger: Logger) {
        self.service = service
        self.peer = peer
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: AdminSocket.requestTimeout) {
            context.channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        timeout?.cancel()
        let line = String(buffer: unwrapInboundIn(data))
        guard peer.mayAdminister else {
            logger.warning("admin socket: refused \(peer)")
            return reply(
                .failed(AdminFailure(code: .refused, message: "only the server's user and root may administer it")),
                context: context)
        }
        let request: AdminRequest
        do {
            request = try AdminLineCodec.decodeRequest(line)
        } catch {
            return reply(.failed(error), context: context)
        }
        let service = self.service
        let operatorName = "\(peer) via the admin socket"
        context.eventLoop.makeFutureWithTask {
            await service.perform(request, by: operatorName)
        }.assumeIsolated().whenSuccess { answer in
            self.reply(answer, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // The line decoder's only error: a request line far too long.
        if !answered, error is ProtocolError {
            answered = true
            return reply(.failed(AdminFailure(code: .invalidRequest, message: "request line too long")), context: context)
        }
        context.channel.close(promise: nil)
    }

    private func reply(_ answer: AdminReply, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for line in AdminLineCodec.encode(answer) {
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.channel.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension AdminConnectionHandler: Sendable {}
