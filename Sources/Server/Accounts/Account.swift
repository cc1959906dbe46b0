import Shared
import Foundation

/// A registered user, as stored by an `AccountStore`.
struct Account: Codable, Sendable, Hashable {
    /// The normalised (lower-case) username; the account's storage key.
    let username: String
    /// The user's password hash, with the parameters that made it.
    var passwordHash: PasswordHash
    /// When the account was registered, to the whole second.
    let createdAt: Date

    /// Creates an account for a validated username, which guarantees the stored name
    /// is normalised.
    ///
    /// `createdAt` is truncated to whole seconds so it survives being stored as a
    /// readable ISO 8601 timestamp unchanged.
    init(username: Username, passwordHash: PasswordHash, createdAt: Date = Date()) {
        self.username = username.value
        self.passwordHash = passwordHash
        self.createdAt = Date(timeIntervalSince1970: createdAt.timeIntervalSince1970.rounded(.down))
    }
}
