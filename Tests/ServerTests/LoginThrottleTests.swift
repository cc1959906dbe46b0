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
    func fail(_ throttle: LoginThrottle, _ count: Int, username: String = "alice", address: String = "10.0.0.1") {
        for _ in 0..<count {
            throttle.recordFailure(username: username, address: address)
        }
    }

    @Test("the first four failures cost nothing")
    func freeFailures() {
        let throttle = makeThrottle()
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        for _ in 1...LoginThrottle.freeFailures {
            throttle.recordFailure(username: "alice", address: "10.0.0.1")
            #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        }
    }

    @Test("from the fifth failure the wait doubles: 1 s, 2 s, 4 s, 8 s")
    func doubling() {
        let throttle = makeThrottle()
        fail(throttle, 4)
        for expected in [1, 2, 4, 8] {
            throttle.recordFailure(username: "alice", address: "10.0.0.1")
            #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == expected)
            // Wait it out, so the next failure is a real attempt.
            clock.advance(TimeInterval(expected))
            #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        }
    }

    @Test("the wait is capped at maximumDelay")
    func cap() {
        let throttle = makeThrottle(baseDelay: 1, maximumDelay: 10)
        fail(throttle, 4 + 4)  // 1, 2, 4, 8
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 8)
        fail(throttle, 1)  // would be 16
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 10)
        fail(throttle, 40)  // far past any sane exponent
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 10)
    }

    @Test("waiting out the delay allows an attempt; a moment before, it does not")
    func waitingOut() {
        let throttle = makeThrottle(baseDelay: 5)
        fail(throttle, 5)
        clock.advance(4.5)
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 1)
        clock.advance(0.5)
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
    }

    @Test("retryAfter rounds up, and is at least 1")
    func rounding() {
        let throttle = makeThrottle(baseDelay: 3)
        fail(throttle, 5)
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 3)
        clock.advance(0.75)  // 2.25 s left
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 3)
        clock.advance(1)  // 1.25 s left
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 2)
        clock.advance(1.24)  // 0.01 s left
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 1)

        let subSecond = makeThrottle(baseDelay: 0.1)
        fail(subSecond, 5)
        #expect(subSecond.retryAfter(username: "alice", address: "10.0.0.1") == 1)
    }

    @Test("the username is throttled from any address, the address for any username")
    func bothKeys() {
        let throttle = makeThrottle()
        fail(throttle, 5, username: "alice", address: "10.0.0.1")
        #expect(throttle.retryAfter(username: "alice", address: "192.0.2.7") == 1)
        #expect(throttle.retryAfter(username: "bob", address: "10.0.0.1") == 1)
        #expect(throttle.retryAfter(username: "bob", address: "192.0.2.7") == nil)
    }

    @Test("failures spread over usernames add up per address")
    func addressCountsAcrossUsernames() {
        let throttle = makeThrottle()
        for name in ["a", "b", "c", "d"] {
            throttle.recordFailure(username: name, address: "10.0.0.1")
        }
        #expect(throttle.retryAfter(username: "e", address: "10.0.0.1") == nil)
        throttle.recordFailure(username: "e", address: "10.0.0.1")
        #expect(throttle.retryAfter(username: "f", address: "10.0.0.1") == 1)
        #expect(throttle.retryAfter(username: "a", address: "192.0.2.7") == nil)
    }

    @Test("success resets the username but not the address")
    func successResetsUsernameOnly() {
        let throttle = makeThrottle(baseDelay: 60)
        fail(throttle, 4, username: "alice")
        throttle.recordSuccess(username: "alice")
        // alice starts afresh: four more failures from elsewhere still cost nothing.
        fail(throttle, 4, username: "alice", address: "192.0.2.7")
        #expect(throttle.retryAfter(username: "alice", address: "192.0.2.7") == nil)

        // The first address has had four failures; one more from it, for anyone, blocks it.
        fail(throttle, 1, username: "bob", address: "10.0.0.1")
        #expect(throttle.retryAfter(username: "carol", address: "10.0.0.1") == 60)
        throttle.recordSuccess(username: "bob")
        #expect(throttle.retryAfter(username: "carol", address: "10.0.0.1") == 60)
        #expect(throttle.retryAfter(username: "bob", address: "192.0.2.8") == nil)
    }

    @Test("an address's count is forgotten after forgetAfter of quiet")
    func forgetting() {
        let throttle = makeThrottle(forgetAfter: 900)
        fail(throttle, 6)  // count 6, waiting 2 s
        clock.advance(901)
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        // Counting starts again: four free failures, then 1 s.
        fail(throttle, 4, username: "bob")
        #expect(throttle.retryAfter(username: "bob", address: "10.0.0.1") == nil)
        fail(throttle, 1, username: "bob")
        #expect(throttle.retryAfter(username: "bob", address: "10.0.0.1") == 1)
    }

    @Test("failures within forgetAfter keep counting")
    func notForgottenTooSoon() {
        let throttle = makeThrottle(forgetAfter: 900)
        fail(throttle, 6)  // waiting 2 s
        clock.advance(899)
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == nil)
        fail(throttle, 1)  // the seventh: 4 s
        #expect(throttle.retryAfter(username: "alice", address: "10.0.0.1") == 4)
    }
}
