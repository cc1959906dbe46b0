import Foundation
import Testing
import Shared

@testable import Server

/// A clock the test moves by hand, read by `LoginThrottle` through its `now:` closure.
final class ManualClock: Sendable {
    private let current = Locked(Date(timeIntervalSince1970: 1_700_000_000))

    /// The time the throttle sees.
    var now: Date { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    func advance(_ seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

@Suite("LoginThrottle")
struct LoginThrottleTests {
    let clock = ManualClock()

    func makeThrottle(
        baseDelay: TimeInterval = 1, maximumDelay: TimeInterval = 300, forgetAfter: TimeInterval = 900
    ) -> LoginThrottle {
        let clock = self.clock
        return LoginThrottle(
            baseDelay: baseDelay, maximumDelay: maximumDelay, forgetAfter: forgetAfter, now: { clock.now })
    }

    /// Records `count` failures for the pair, without moving the clock.
    func fail(_ throttle: LoginThrottle, _ count: Int, username: String = "alice", address: String = "10.0.0.1") async throws {
        for _ in 0..<count {
            try await throttle.recordFailure(username: username, address: address)
        }
    }

    @Test("the first four failures cost nothing")
    func freeFailures() async throws {
        let throttle = makeThrottle()
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        for _ in 1...LoginThrottle.freeFailures {
            try await throttle.recordFailure(username: "alice", address: "10.0.0.1")
            #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        }
    }

    @Test("from the fifth failure the wait doubles: 1 s, 2 s, 4 s, 8 s")
    func doubling() async throws {
        let throttle = makeThrottle()
        try await fail(throttle, 4)
        for expected in [1, 2, 4, 8] {
            try await throttle.recordFailure(username: "alice", address: "10.0.0.1")
            #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == expected)
            // Wait it out, so the next failure is a real attempt.
            clock.advance(TimeInterval(expected))
            #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        }
    }

    @Test("the wait is capped at maximumDelay")
    func cap() async throws {
        let throttle = makeThrottle(baseDelay: 1, maximumDelay: 10)
        try await fail(throttle, 4 + 4)  // 1, 2, 4, 8
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 8)
        try await fail(throttle, 1)  // would be 16
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 10)
        try await fail(throttle, 40)  // far past any sane exponent
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 10)
    }

    @Test("waiting out the delay allows an attempt; a moment before, it does not")
    func waitingOut() async throws {
        let throttle = makeThrottle(baseDelay: 5)
        try await fail(throttle, 5)
        clock.advance(4.5)
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 1)
        clock.advance(0.5)
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
    }

    @Test("retryAfter rounds up, and is at least 1")
    func rounding() async throws {
        let throttle = makeThrottle(baseDelay: 3)
        try await fail(throttle, 5)
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 3)
        clock.advance(0.75)  // 2.25 s left
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 3)
        clock.advance(1)  // 1.25 s left
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 2)
        clock.advance(1.24)  // 0.01 s left
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 1)

        let subSecond = makeThrottle(baseDelay: 0.1)
        try await fail(subSecond, 5)
        #expect(try await subSecond.retryAfter(username: "alice", address: "10.0.0.1") == 1)
    }

    @Test("the username is throttled from any address, the address for any username")
    func bothKeys() async throws {
        let throttle = makeThrottle()
        try await fail(throttle, 5, username: "alice", address: "10.0.0.1")
        #expect(try await throttle.retryAfter(username: "alice", address: "192.0.2.7") == 1)
        #expect(try await throttle.retryAfter(username: "bob", address: "10.0.0.1") == 1)
        #expect(try await throttle.retryAfter(username: "bob", address: "192.0.2.7") == nil)
    }

    @Test("failures spread over usernames add up per address")
    func addressCountsAcrossUsernames() async throws {
        let throttle = makeThrottle()
        for name in ["a", "b", "c", "d"] {
            try await throttle.recordFailure(username: name, address: "10.0.0.1")
        }
        #expect(try await throttle.retryAfter(username: "e", address: "10.0.0.1") == nil)
        try await throttle.recordFailure(username: "e", address: "10.0.0.1")
        #expect(try await throttle.retryAfter(username: "f", address: "10.0.0.1") == 1)
        #expect(try await throttle.retryAfter(username: "a", address: "192.0.2.7") == nil)
    }

    @Test("success resets the username but not the address")
    func successResetsUsernameOnly() async throws {
        let throttle = makeThrottle(baseDelay: 60)
        try await fail(throttle, 4, username: "alice")
        try await throttle.recordSuccess(username: "alice")
        // alice starts afresh: four more failures from elsewhere still cost nothing.
        try await fail(throttle, 4, username: "alice", address: "192.0.2.7")
        #expect(try await throttle.retryAfter(username: "alice", address: "192.0.2.7") == nil)

        // The first address has had four failures; one more from it, for anyone, blocks it.
        try await fail(throttle, 1, username: "bob", address: "10.0.0.1")
        #expect(try await throttle.retryAfter(username: "carol", address: "10.0.0.1") == 60)
        try await throttle.recordSuccess(username: "bob")
        #expect(try await throttle.retryAfter(username: "carol", address: "10.0.0.1") == 60)
        #expect(try await throttle.retryAfter(username: "bob", address: "192.0.2.8") == nil)
    }

    @Test("an address's count is forgotten after forgetAfter of quiet")
    func forgetting() async throws {
        let throttle = makeThrottle(forgetAfter: 900)
        try await fail(throttle, 6)  // count 6, waiting 2 s
        clock.advance(901)
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        // Counting starts again: four free failures, then 1 s.
        try await fail(throttle, 4, username: "bob")
        #expect(try await throttle.retryAfter(username: "bob", address: "10.0.0.1") == nil)
        try await fail(throttle, 1, username: "bob")
        #expect(try await throttle.retryAfter(username: "bob", address: "10.0.0.1") == 1)
    }

    @Test("failures within forgetAfter keep counting")
    func notForgottenTooSoon() async throws {
        let throttle = makeThrottle(forgetAfter: 900)
        try await fail(throttle, 6)  // waiting 2 s
        clock.advance(899)
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        try await fail(throttle, 1)  // the seventh: 4 s
        #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == 4)
    }

    @Test("every backend's ledger: counts, waits, resets and pruning as the rules say; failures recorded at once all count", arguments: StoreKind.allCases)
    func ledgerParity(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.open(kind)
        try await StorageTestSupport.closing(fixture, close: { await $0.tearDown() }) { fixture in
            let clock = self.clock
            let ledger = fixture.stores.loginFailures
            let throttle = LoginThrottle(baseDelay: 2, ledger: ledger, now: { clock.now })
            try await fail(throttle, 5)
            #expect(try await throttle.retryAfter(username: "alice", address: "192.0.2.7") == 2)
            #expect(try await throttle.retryAfter(username: "bob", address: "10.0.0.1") == 2)
            clock.advance(2)
            #expect(try await throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)

            // Twenty failures at once, from two "servers" (two throttles on one ledger).
            let other = LoginThrottle(baseDelay: 2, ledger: ledger, now: { clock.now })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<20 {
                    group.addTask {
                        try await (number % 2 == 0 ? throttle : other).recordFailure(username: "carol", address: "192.0.2.1")
                    }
                }
                try await group.waitForAll()
            }
            let entries = try await ledger.entries([LoginThrottle.key(username: "carol"), "user:nobody"])
            #expect(entries.keys.sorted() == ["user:carol"])
            #expect(entries["user:carol"]?.failures == 20, "none lost to a race")
            #expect(entries["user:carol"]?.lastFailure == clock.now)

            try await throttle.recordSuccess(username: "carol")
            #expect(try await ledger.entries([LoginThrottle.key(username: "carol")]).isEmpty)
            clock.advance(2_000)
            try await ledger.prune(quietSince: clock.now.addingTimeInterval(-900))
            #expect(try await ledger.entries([LoginThrottle.key(address: "10.0.0.1"), LoginThrottle.key(address: "192.0.2.1")]).isEmpty)
        }
    }
}
