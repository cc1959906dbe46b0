import Shared
import Foundation

/// A registered user, as stored by an `AccountStore`.
///
/// Stored as JSON by both backends. Records written before `lastLoginAt`, `isLocked` and
/// `mustChangePassword` existed read as never logged in, unlocked and with nothing to
/// change, so older GDBM files and databases need no rewrite to be read.
struct Account: Codable, Sendable, Hashable {
    /// The normalised (lower-case) username; the account's storage key.
    let username: String
    /// The user's password hash, with the parameters that made it.
    var passwordHash: PasswordHash
    /// When the account was registered, to the whole second.
    let createdAt: Date
    /// When the user last logged in, to the whole second; nil if never (or not since this
    /// was recorded).
    var lastLoginAt: Date?
    /// The operator locked the account: logins are refused with `account_locked`.
    var isLocked = false
    /// The password is a one-time password from the operator: a login with it succeeds, but
    /// the session may do nothing but change it (or log out) until it has.
    var mustChangePassword = false

    /// Creates an account for a validated username, which guarantees the stored name
    /// is normalised.
    ///
    /// `createdAt` is truncated to whole seconds so it survives being stored as a
    /// readable ISO 8601 timestamp unchanged.
    init(username: Username, passwordHash: PasswordHash, createdAt: Date = Date()) {
        self.username = username.value
        self.passwordHash = passwordHash
        self.createdAt = Self.wholeSeconds(createdAt)
    }

    /// `date` truncated to whole seconds, as the records store dates.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    private enum CodingKeys: String, CodingKey {
        case username, passwordHash, createdAt, lastLoginAt, mustChangePassword
        case isLocked = "locked"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        username = try container.decode(String.self, forKey: .username)
        passwordHash = try container.decode(PasswordHash.self, forKey: .passwordHash)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        lastLoginAt = try container.decodeIfPresent(Date.self, forKey: .lastLoginAt)
        isLocked = try container.decodeIfPresent(Bool.self, forKey: .isLocked) ?? false
        mustChangePassword = try container.decodeIfPresent(Bool.self, forKey: .mustChangePassword) ?? false
    }
}
