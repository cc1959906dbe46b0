import Shared

/// What can stop a bench step, worded for the person running it.
enum BenchError: Error, CustomStringConvertible {
    /// The connection closed while a reply was still expected.
    case connectionClosed
    /// The server answered a request with an `error` frame.
    case refused(ProtocolError)
    /// The server answered with a frame the bench did not expect there.
    case unexpectedReply(String)
    /// Starting or finding the server failed.
    case server(String)
    /// Something took far longer than it may.
    case timedOut(String)

    var description: String {
        switch self {
        case .connectionClosed:
            return "connection closed before the reply"
        case .refused(let error):
            return "server refused: \(error.code.rawValue) (\(error.message))"
        case .unexpectedReply(let text):
            return "unexpected reply: \(text)"
        case .server(let text):
            return text
        case .timedOut(let text):
            return "timed out: \(text)"
        }
    }
}
