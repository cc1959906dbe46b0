import Shared

/// The sessions of a running server, as the operator's requests reach them.
protocol LiveSessions: Sendable {
    /// How many users are logged in on this server.
    func onlineCount() async throws -> Int

    /// Closes `username`'s session on this server with `notice`, if they have one, and
    /// returns once it has closed (its unacknowledged live messages gone to their inbox) or
    /// a few seconds have passed. True if there was a session.
    func close(_ username: String, notice: NoticeCode) async -> Bool

    /// Forgets `username`'s failed logins, so a fresh one-time password is not held back by
    /// the back-off of the attempts that made the user ask for it.
    func forgetFailedLogins(of username: String) async
}

/// Which sessions an admin request can reach.
enum AdminReach: Sendable {
    /// The running server's, through its admin socket.
    case server(any LiveSessions)
    /// None run: the store was opened directly, which a running server would have prevented
    /// (GDBM: the data directory's lock).
    case noServer
    /// Unknown: the store was opened directly while servers may be running on it
    /// (PostgreSQL). A lock or a deletion keeps their users from logging in again, but a
    /// session already open on one of them stays open until it ends.
    case unreachable
}
