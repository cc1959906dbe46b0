/// A frame sent by the server to the client.
///
/// Replies (`ok`, `error`) echo the request `id`; `notice` is unsolicited. To add a frame, add the
/// case, its `Kind`, and one branch each in `ServerFrame+JSON.swift`'s `decode` and `encode`.
public enum ServerFrame: Hashable, Sendable {
    /// The server's answer to the client's `hello`.
    case hello(version: Int, agent: String)
    /// Success. `username` is the canonical (lower-case) name after `register` and `login`, and
    /// nil after `logout` and `ping`.
    case ok(id: Int, username: String? = nil)
    /// A failed request, or a bad frame; `id` is set when the request had a readable one.
    case error(ProtocolError)
    /// An unsolicited event; both `displaced` and `shutdown` are followed by the server closing.
    case notice(code: NoticeCode, message: String)

    /// The JSON `type` of each frame.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case hello, ok, error, notice
    }

    /// This frame's JSON `type`.
    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .ok: .ok
        case .error: .error
        case .notice: .notice
        }
    }

    /// The request `id` this frame answers, if any.
    public var id: Int? {
        switch self {
        case .hello, .notice: nil
        case .ok(let id, _): id
        case .error(let error): error.id
        }
    }

    /// A notice with the code's default text.
    public static func notice(_ code: NoticeCode) -> ServerFrame {
        .notice(code: code, message: code.defaultMessage)
    }
}
