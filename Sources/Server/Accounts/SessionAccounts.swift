import NIOCore

/// What a successful login grants the session.
struct LoginGrant: Equatable, Sendable {
    /// The normalised username.
    var username: String
    /// The password was a one-time password from the operator: the session may only change
    /// it (or log out) until it has.
    var mustChangePassword = false
}

/// Registration, login and the account's own requests, as a session needs them. Futures
/// complete on the loop passed in.
protocol SessionAccounts: Sendable {
    /// Creates an account; succeeds with the normalised username, or fails with the
    /// `ProtocolError` to send.
    func register(id: Int, username: String, password: String, on loop: EventLoop) -> EventLoopFuture<String>

    /// Checks a login from `address`; succeeds with what the login grants, or fails with
    /// the `ProtocolError` to send (`bad_credentials`, `account_locked`, `throttled`,
    /// `internal`).
    func login(id: Int, username: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<LoginGrant>

    /// Changes `username`'s password after checking the current one. Succeeds with nothing;
    /// fails with `invalid_password` (the new one breaks the rules, or repeats a one-time
    /// password), `bad_credentials` (the current one is wrong), `throttled`, or `internal`.
    func changePassword(
        id: Int, username: String, password: String, newPassword: String, address: String, on loop: EventLoop
    ) -> EventLoopFuture<Void>

    /// Deletes `username`'s account, keys and inbox after checking `password`. Succeeds with
    /// nothing; fails with `bad_credentials`, `throttled`, or `internal`.
    func deleteAccount(id: Int, username: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<Void>
}
