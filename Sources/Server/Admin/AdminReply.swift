import Foundation

/// The answer to an `AdminRequest`, whichever way it was carried out.
enum AdminReply: Equatable, Sendable {
    /// The answer to `users`: every account, sorted by name.
    case users([UserSummary])
    /// The answer to `stats`.
    case statistics(ServerStatistics)
    /// A change was made (lock, unlock, delete); the sentence says what, for the operator.
    case done(String)
    /// The answer to `reset-password`: the one-time password to give the user, and what
    /// became of their session (nil: they had none, or none could be reached).
    case oneTimePassword(username: String, password: String, session: String?)
    /// Nothing was done.
    case failed(AdminFailure)
}

/// One account as the operator's listing shows it.
struct UserSummary: Equatable, Sendable {
    var username: String
    var createdAt: Date
    /// Nil if the user has not logged in since this was recorded.
    var lastLoginAt: Date?
    /// Messages waiting in the user's inbox, and their bytes (as the inbox caps count them).
    var inbox: InboxUsage
    var isLocked: Bool
    var mustChangePassword: Bool

    init(_ account: Account, inbox: InboxUsage) {
        username = account.username
        createdAt = account.createdAt
        lastLoginAt = account.lastLoginAt
        self.inbox = inbox
        isLocked = account.isLocked
        mustChangePassword = account.mustChangePassword
    }

    init(
        username: String, createdAt: Date, lastLoginAt: Date?, inbox: InboxUsage, isLocked: Bool,
        mustChangePassword: Bool
    ) {
        self.username = username
        self.createdAt = createdAt
        self.lastLoginAt = lastLoginAt
        self.inbox = inbox
        self.isLocked = isLocked
        self.mustChangePassword = mustChangePassword
    }
}

/// What `stats` reports.
struct ServerStatistics: Equatable, Sendable {
    /// Users logged in on the running servers (every node sharing the database); 0 when
    /// none runs on the store (GDBM, opened directly).
    var sessions: Int
    var accounts: Int
    var lockedAccounts: Int
    /// Users with at least one waiting message.
    var inboxes: Int
    /// Waiting messages and their bytes, over every inbox.
    var inbox: InboxUsage
    /// Users for whom files are held.
    var fileRecipients: Int
    /// Bytes of the files held (their declared sizes), over every user.
    var fileBytes: Int
    /// What the store is, for the operator ("GDBM files in /var/lib/chat").
    var store: String
    /// Its size on disk: the GDBM files, or the PostgreSQL database.
    var storeBytes: Int64
}

/// Why an admin request did nothing; the message is a sentence for the operator.
struct AdminFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure, as the admin socket names it.
    enum Code: String, Sendable {
        /// No such user (nothing of theirs in the store).
        case unknownUser = "unknown_user"
        /// The request is malformed: an unknown command, a name no account can have.
        case invalidRequest = "invalid_request"
        /// The peer on the admin socket may not use it.
        case refused
        /// The store failed; the request may be repeated.
        case storage
    }

    var code: Code
    var message: String

    var description: String { message }
}
