import NIOCore

/// Registration and login, as a session needs them. Futures complete on the loop passed in.
protocol SessionAccounts: Sendable {
    /// Creates an account; succeeds with the normalised username, or fails with the
    /// `ProtocolError` to send.
    func register(id: Int, username: String, password: String, on loop: EventLoop) -> EventLoopFuture<String>

    /// Checks a login from `address`; succeeds with the normalised username, or fails with
    /// the `ProtocolError` to send (`bad_credentials`, `throttled`, `internal`).
    func login(id: Int, username: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<String>
}
