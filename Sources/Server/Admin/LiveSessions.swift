import Shared

/// The sessions of the running servers, as the operator's requests reach them: one server's
/// through its admin socket (and, sharing a database, the other nodes' through it), or every
/// node's through the shared database itself.
protocol LiveSessions: Sendable {
    /// How many users are logged in (on every node, when servers share a database).
    func onlineCount() async throws -> Int

    /// Closes `username`'s session with `notice`, wherever it is, and returns once it has
    /// closed (its unacknowledged live messages gone to their inbox) or a few seconds have
    /// passed.
    func close(_ username: String, notice: NoticeCode) async -> SessionClosing

    /// Forgets `username`'s failed logins, so a fresh one-time password is not held back by
    /// the back-off of the attempts that made the user ask for it.
    func forgetFailedLogins(of username: String) async
}

/// What closing a user's session came to, for the operator.
enum SessionClosing: Equatable, Sendable {
    /// They had no session.
    case none
    /// Their session was closed.
    case closed
    /// The node holding their session was told to close it, and it had not gone when the
    /// wait ended (a node busy or cut off from the database; one that stays silent is counted
    /// dead, and its sessions with it).
    case asked
    /// The other nodes could not be told (the database failed): a session of theirs on one
    /// of them stays open until it ends.
    case unreached(String)

    /// The clause that says so, for the operator's reply and the log; nil for `none`.
    var clause: String? {
        switch self {
        case .none: nil
        case .closed: "their session was closed"
        case .asked: "the server holding their session was told to close it (still open after the wait)"
        case .unreached(let reason):
            "the other servers could not be told (\(reason)), so a session of theirs on one of them stays open until it ends"
        }
    }
}

/// Which sessions an admin request can reach.
enum AdminReach: Sendable {
    /// Those of the running servers: through the admin socket of one (which reaches the
    /// others on its database), or through the database the servers share.
    case live(any LiveSessions)
    /// None run: the store was opened directly, which a running server would have prevented
    /// (GDBM: the data directory's lock).
    case noServer
}
