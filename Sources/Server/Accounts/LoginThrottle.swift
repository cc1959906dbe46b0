import Foundation
import Shared

/// Backs off failed logins per username and per source address.
///
/// Policy (docs/PROTOCOL.md): the first four failures in a row cost nothing extra. From the
/// fifth on, each failure makes the next attempt wait `baseDelay`, then twice that, and so
/// on, capped at `maximumDelay` (1 s, 2 s, 4 s ... 300 s by default). A successful login
/// clears the username's count; an address's count is forgotten after `forgetAfter` of
/// quiet, so one valid account cannot be used to reset guessing against others.
/// An attempt made while either key is waiting is answered "too many attempts" without
/// running the KDF, so throttled guessing costs the server nothing.
///
/// The counts live in a `LoginFailureLedger`: in this process for a server on its own, in
/// the database for servers that share one, so that guessing is counted across all of them
/// (an attacker gains nothing by spreading attempts over the nodes).
final class LoginThrottle: Sendable {
    /// Failures allowed before delays start.
    static let freeFailures = 4

    /// One key's failures: a username's (`user:NAME`) or an address's (`address:ADDRESS`).
    struct Entry: Equatable, Sendable {
        var failures = 0
        var blockedUntil: Date = .distantPast
        var lastFailure: Date = .distantPast
    }

    private let baseDelay: TimeInterval
    private let maximumDelay: TimeInterval
    private let forgetAfter: TimeInterval
    private let now: @Sendable () -> Date
    private let ledger: any LoginFailureLedger
    /// Failures recorded since the ledger was last pruned.
    private let sincePruned = Locked(0)
    /// Failures between two prunings of keys quiet for longer than `forgetAfter`.
    static let pruneEvery = 1_000

    init(
        baseDelay: TimeInterval = 1,
        maximumDelay: TimeInterval = 300,
        forgetAfter: TimeInterval = 900,
        ledger: any LoginFailureLedger = InMemoryLoginFailures(),
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.forgetAfter = forgetAfter
        self.ledger = ledger
        self.now = now
    }

    /// Seconds to wait (rounded up) before `username` may try again from `address`, or nil
    /// when an attempt is allowed now.
    ///
    /// - Throws: `StorageError` when the ledger cannot be read.
    func retryAfter(username: String, address: String) async throws -> Int? {
        let now = now()
        let entries = try await ledger.entries([Self.key(username: username), Self.key(address: address)])
        let waits = entries.values.compactMap { entry -> TimeInterval? in
            guard entry.blockedUntil > now else { return nil }
            return entry.blockedUntil.timeIntervalSince(now)
        }
        guard let longest = waits.max() else { return nil }
        return max(1, Int(longest.rounded(.up)))
    }

    /// Records a failed attempt.
    ///
    /// - Throws: `StorageError` when the ledger cannot be written.
    func recordFailure(username: String, address: String) async throws {
        let now = now()
        let rules = Rules(baseDelay: baseDelay, maximumDelay: maximumDelay, forgetAfter: forgetAfter)
        for key in [Self.key(username: username), Self.key(address: address)] {
            try await ledger.update(key) { rules.bump($0, now: now) }
        }
        let prune = sincePruned.withLock { count in
            count += 1
            guard count >= Self.pruneEvery else { return false }
            count = 0
            return true
        }
        if prune { try await ledger.prune(quietSince: now.addingTimeInterval(-forgetAfter)) }
    }

    /// Records a successful login: the username starts afresh.
    ///
    /// - Throws: `StorageError` when the ledger cannot be written.
    func recordSuccess(username: String) async throws {
        try await ledger.remove(Self.key(username: username))
    }

    static func key(username: String) -> String { "user:" + username }
    static func key(address: String) -> String { "address:" + address }

    /// The back-off rules, as a value the ledger may run wherever it keeps a key locked.
    private struct Rules: Sendable {
        let baseDelay: TimeInterval
        let maximumDelay: TimeInterval
        let forgetAfter: TimeInterval

        func bump(_ entry: Entry, now: Date) -> Entry {
            var entry = entry
            if now.timeIntervalSince(entry.lastFailure) > forgetAfter, entry.blockedUntil < now {
                entry = Entry()
            }
            entry.failures += 1
            entry.lastFailure = now
            if entry.failures > LoginThrottle.freeFailures {
                let exponent = min(entry.failures - LoginThrottle.freeFailures - 1, 30)
                let delay = min(baseDelay * pow(2, Double(exponent)), maximumDelay)
                entry.blockedUntil = now.addingTimeInterval(delay)
            }
            return entry
        }
    }
}
