#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Shared

/// Why a connection could not be made, in words for the person at the keyboard, rather
/// than NIO's description of its internals.
public enum ConnectFailure {
    /// "connection refused (is chat-server running?)", "unknown host", "timed out", or the
    /// TLS layer's own sentence for a certificate it refused.
    public static func reason(for error: any Error) -> String {
        switch error {
        case let error as TLSError:
            return error.description
        case let error as NIOConnectionError:
            // One failure per address tried; the first that says something specific wins.
            for failure in error.connectionErrors {
                if let reason = reason(errno: (failure.error as? IOError)?.errnoCode) { return reason }
            }
            if error.connectionErrors.isEmpty {
                return "unknown host (no address found for \(error.host))"
            }
            return error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)"
        case ChannelError.connectTimeout:
            return "timed out (is the host reachable and the port right?)"
        case let error as ServerEndpoint.UnknownHost:
            return "unknown host (no address found for \(error.host))"
        case let error as SocketAddressError:
            if case .unknown(let host, _) = error { return "unknown host (no address found for \(host))" }
            return "\(error)"
        case let error as IOError:
            return reason(errno: error.errnoCode) ?? "\(error)"
        default:
            return "\(error)"
        }
    }

    private static func reason(errno: Int32?) -> String? {
        switch errno {
        case ECONNREFUSED: "connection refused (is chat-server running?)"
        case ETIMEDOUT: "timed out (is the host reachable and the port right?)"
        case EHOSTUNREACH, ENETUNREACH: "no route to the host"
        default: nil
        }
    }
}
