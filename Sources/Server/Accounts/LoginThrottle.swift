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
final class LoginThrottle: Sendable {
    /// Failures allowed before delays start.
    static let freeFailures = 4

    struct Entry {
        var failures = 0
        var blockedUntil: Date = .distantPast
        var lastFailure: Date = .distantPast
    }

    private let baseDelay: TimeInterval
    private let maximumDelay: TimeInterval
    private let forgetAfter: TimeInterval
    private let now: @Sendable () -> Date
    private let state = Locked<(users: [String: Entry], addresses: [String: Entry])>(([:], [:]))

    init(
        baseDelay: TimeInterval = 1,
        maximumDelay: TimeInterval = 300,
        forgetAfter: TimeInterval = 900,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.forgetAfter = forgetAfter
        self.now = now
    }

    /// Seconds to wait (rounded up) before `username` may try again from `address`, or nil
    /// when an attempt is allowed now.
    func retryAfter(username: String, address: String) -> Int? {
        let now = now()
        return state.withLock { state in
            let waits = [state.users[username], state.addresses[address]].compactMap { entry -> TimeInterval? in
                guard let entry, entry.blockedUntil > now else { return nil }
                return entry.blockedUntil.timeIntervalSince(now)
            }
            guard let longest = waits.max() else { return nil }
            return max(1, Int(longest.rounded(.up)))
        }
    }

    /// Records a failed attempt.
    func recordFailure(username: String, address: String) {
        let now = now()
        state.withLock { state in
            state.users[username] = bump(state.users[username], now: now)
            state.addresses[address] = bump(state.addresses[address], now: now)
            if state.addresses.count > 100_000 { prune(&state.addresses, now: now) }
            if state.users.count > 100_000 { prune(&state.users, now: now) }
        }
    }

    /// Records a successful login: the username starts afresh.
    func recordSuccess(username: String) {
        state.withLock { state in
            _ = state.users.removeValue(forKey: username)
        }
    }

    private func bump(_ entry: Entry?, now: Date) -> Entry {
        var entry = entry ?? Entry()
        if now.timeIntervalSince(entry.lastFailure) > forgetAfter, entry.blockedUntil < now {
            entry = Entry()
        }
        entry.failures += 1
        entry.lastFailure = now
        if entry.failures > Self.freeFailures {
            let exponent = min(entry.failures - Self.freeFailures - 1, 30)
            let delay = min(baseDelay * pow(2, Double(exponent)), maximumDelay)
            entry.blockedUntil = now.addingTimeInterval(delay)
        }
        return entry
    }

    private func prune(_ entries: inout [String: Entry], now: Date) {
        entries = entries.filter { now.timeIntervalSince($0.value.lastFailure) <= forgetAfter }
    }
}
