/// What the operator asks of `chat-server admin`: the same request whether it is carried out
/// on the store directly or sent to a running server through its admin socket.
enum AdminRequest: Equatable, Sendable {
    /// Every account with its inbox and state.
    case users
    /// Sessions, accounts, inbox totals and the store's size.
    case stats
    /// Refuse the user's logins and close their session.
    case lock(String)
    /// Let the user log in again.
    case unlock(String)
    /// Delete the user's account, keys and inbox, and close their session.
    case delete(String)
    /// Give the user a one-time password to change at their next login.
    case resetPassword(String)

    /// The command word, as on the command line and the admin socket.
    var command: String {
        switch self {
        case .users: "users"
        case .stats: "stats"
        case .lock: "lock"
        case .unlock: "unlock"
        case .delete: "delete"
        case .resetPassword: "reset-password"
        }
    }

    /// The user the request is about; nil for the listings.
    var username: String? {
        switch self {
        case .users, .stats: nil
        case .lock(let name), .unlock(let name), .delete(let name), .resetPassword(let name): name
        }
    }

    /// Whether the request changes anything (logged as an action, not a look).
    var changesState: Bool { username != nil }

    /// The request named by `command`, with `username` for those that need one; nil for an
    /// unknown command or a missing or superfluous name.
    init?(command: String, username: String?) {
        switch (command, username) {
        case ("users", nil): self = .users
        case ("stats", nil): self = .stats
        case ("lock", let name?): self = .lock(name)
        case ("unlock", let name?): self = .unlock(name)
        case ("delete", let name?): self = .delete(name)
        case ("reset-password", let name?): self = .resetPassword(name)
        default: return nil
        }
    }
}
