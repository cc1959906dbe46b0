import Foundation
import Shared

/// Where `LoginThrottle` keeps its counts of failed logins, by key (a username's, an
/// address's). A store protocol with an in-memory twin (`InMemoryLoginFailures`, also the
/// store of a server on its own) and a PostgreSQL implementation, shared by every server on
/// the database.
protocol LoginFailureLedger: Sendable {
    /// The entries kept under `keys`; keys without one are left out.
    func entries(_ keys: [String]) async throws -> [String: LoginThrottle.Entry]

    /// Replaces the entry under `key` (a fresh `Entry` when there is none) with what
    /// `change` makes of it, with no other change to that key, on any server, in between.
    func update(_ key: String, _ change: @escaping @Sendable (LoginThrottle.Entry) -> LoginThrottle.Entry) async throws

    /// Forgets the entry under `key`.
    func remove(_ key: String) async throws

    /// Forgets every entry whose last failure is before `cutoff` and which is not blocked.
    func prune(quietSince cutoff: Date) async throws
}

/// Failed logins counted in this process.
final class InMemoryLoginFailures: LoginFailureLedger {
    private let entries = Locked<[String: LoginThrottle.Entry]>([:])

    init() {}

    func entries(_ keys: [String]) -> [String: LoginThrottle.Entry] {
        entries.withLock { entries in
            var found: [String: LoginThrottle.Entry] = [:]
            for key in keys { found[key] = entries[key] }
            return found
        }
    }

    func update(_ key: String, _ change: @escaping @Sendable (LoginThrottle.Entry) -> LoginThrottle.Entry) {
        entries.withLock { $0[key] = change($0[key] ?? LoginThrottle.Entry()) }
    }

    func remove(_ key: String) {
        entries.withLock { _ = $0.removeValue(forKey: key) }
    }

    func prune(quietSince cutoff: Date) {
        entries.withLock { entries in
            entries = entries.filter { $0.value.lastFailure >= cutoff || $0.value.blockedUntil >= cutoff }
        }
    }
}
