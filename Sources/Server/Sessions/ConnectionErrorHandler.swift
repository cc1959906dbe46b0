#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import Shared

/// Last handler of every connection: contains its errors. Whatever goes wrong on one
/// connection is logged once, that connection is closed, and nothing escapes to the
/// server or to other connections.
final class ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    private let logger: Logger
    private let label: ConnectionLabel
    private var logged = false

    init(logger: Logger, label: ConnectionLabel) {
        self.logger = logger
        self.label = label
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !logged {
            logged = true
            // A vanished peer is ordinary on the internet; everything else is worth a notice.
            let metadata = label.metadata()
            if case TLSError.uncleanShutdown = error {
                logger.info("\(Self.describe(error))", metadata: metadata)
            } else {
                logger.notice("\(Self.describe(error))", metadata: metadata)
            }
        }
        context.close(promise: nil)
    }

    /// One short line for the log: what happened to the connection, without NIO's call
    /// names (a reset reads "connection reset by peer", not `read(descriptor:...)`).
    static func describe(_ error: Error) -> String {
        switch error {
        case TLSError.uncleanShutdown:
            "connection closed without close_notify"
        case TLSError.handshakeFailed(let reason):
            "TLS handshake failed: \(reason)"
        case TLSError.handshakeTimeout:
            "TLS handshake timed out"
        case let error as TLSError:
            "TLS error: \(error)"
        case let error as IOError:
            "connection error: " + String(cString: strerror(error.errnoCode)).lowercased()
        default:
            "connection error: \(error)"
        }
    }
}
