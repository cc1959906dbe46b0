import Shared

/// Why a session request did not succeed.
public enum SessionError: Error, Sendable, CustomStringConvertible {
    /// The server answered the request with an `error` frame.
    case refused(ProtocolError)
    /// The server answered with a frame that is not an answer to this request.
    case unexpectedReply(ServerFrame.Kind)
    /// The server's `hello` speaks another protocol version.
    case versionMismatch(server: Int)
    /// No `hello` from the server within the configured time.
    case helloTimedOut
    /// The connection is closed (or closed before the answer came).
    case connectionClosed

    public var description: String {
        switch self {
        case .refused(let error): error.message
        case .unexpectedReply(let kind): "unexpected \(kind.rawValue) from the server"
        case .versionMismatch(let version): "the server speaks protocol version \(version), this client \(ProtocolVersion.current)"
        case .helloTimedOut: "the server did not answer hello"
        case .connectionClosed: "the connection is closed"
        }
    }
}
