/// A frame sent by the client to the server.
///
/// Each case is one JSON `type`. To add a frame (say `send` for chat): add the case, its `Kind`,
/// and one branch each in `ClientFrame+JSON.swift`'s `decode` and `encode`; the compiler points at
/// every switch that needs it.
public enum ClientFrame: Hashable, Sendable {
    /// Opens the session; must be the first frame. Carries no `id`.
    case hello(version: Int, agent: String)
    /// Creates an account. Does not log in: the client sends `login` after the `ok`.
    case register(id: Int, username: String, password: String)
    /// Logs this session in as `username`.
    case login(id: Int, username: String, password: String)
    /// Logs out; the connection stays open.
    case logout(id: Int)
    /// Asks for an `ok`, to check the connection is alive.
    case ping(id: Int)

    /// The JSON `type` of each frame.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case hello, register, login, logout, ping
    }

    /// This frame's JSON `type`.
    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .register: .register
        case .login: .login
        case .logout: .logout
        case .ping: .ping
        }
    }

    /// The request `id`, which the reply echoes; nil for `hello`.
    public var id: Int? {
        switch self {
        case .hello: nil
        case .register(let id, _, _), .login(let id, _, _), .logout(let id), .ping(let id): id
        }
    }
}

extension ClientFrame: CustomStringConvertible, CustomDebugStringConvertible {
    /// A log-safe rendering: passwords are replaced by `<redacted>`.
    ///
    /// Logging a frame with `\(frame)` must never leak a password, so the default enum rendering,
    /// which prints every associated value, is replaced for both `description` and `debugDescription`.
    public var description: String {
        switch self {
        case .hello(let version, let agent):
            "hello(version: \(version), agent: \(agent))"
        case .register(let id, let username, _):
            "register(id: \(id), username: \(username), password: <redacted>)"
        case .login(let id, let username, _):
            "login(id: \(id), username: \(username), password: <redacted>)"
        case .logout(let id):
            "logout(id: \(id))"
        case .ping(let id):
            "ping(id: \(id))"
        }
    }

    /// Same as `description`, so `debugPrint` and `String(reflecting:)` are log-safe too.
    public var debugDescription: String { self.description }
}
