import NIOCore
import Testing

@testable import Server

@Suite("TokenBucket")
struct TokenBucketTests {
    @Test("a burst is allowed, then the rate, refilled with time and capped at the burst")
    func rateAndBurst() {
        var bucket = TokenBucket(rate: 10, burst: 20)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var allowed = 0
        for _ in 0..<25 where bucket.take(at: start) { allowed += 1 }
        #expect(allowed == 20)
        let halfToken = bucket.take(at: start + .milliseconds(50))
        let wholeToken = bucket.take(at: start + .milliseconds(100))
        let none = bucket.take(at: start + .milliseconds(100))
        #expect(!halfToken, "half a token is not a token")
        #expect(wholeToken)
        #expect(!none)
        // A long pause refills to the burst, not beyond.
        let later = start + .seconds(60)
        var refilled = 0
        for _ in 0..<25 where bucket.take(at: later) { refilled += 1 }
        #expect(refilled == 20)
    }
}
