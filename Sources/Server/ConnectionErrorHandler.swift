import Logging
import NIOCore
import Shared

/// Last handler of every connection: contains its errors. Whatever goes wrong on one
/// connection is logged once, that connection is closed, and nothing escapes to the
/// server or to other connections.
final class ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    private let logger: Logger
    private var logged = false

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !logged {
            logged = true
            switch error {
            case TLSError.uncleanShutdown:
                logger.info("connection closed without close_notify")
            case TLSError.handshakeFailed(let reason):
                logger.notice("TLS handshake failed: \(reason)")
            case TLSError.handshakeTimeout:
                logger.notice("TLS handshake timed out")
            case let error as TLSError:
                logger.notice("TLS error: \(error)")
            default:
                logger.notice("connection error: \(error)")
            }
        }
        context.close(promise: nil)
    }
}
