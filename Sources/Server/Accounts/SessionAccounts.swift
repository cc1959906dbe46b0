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

    /// Changes `username`'s password after checking the current one. Succeeds with nothing;
    /// fails with `invalid_password` (the new one breaks the rules), `bad_credentials` (the
    /// current one is wrong), `throttled`, or `internal`.
    func changePassword(
        id: Int, username: String, password: String, newPassword: String, address: String, on loop: EventLoop
    ) -> EventLoopFuture<Void>
}
