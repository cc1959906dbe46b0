import NIOCore

/// A per-session message rate limit: `burst` tokens, refilled at `rate` per second; each
/// message takes one. Pure, with the time passed in, so it is tested without a clock.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: NIODeadline?

    init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
    }

    /// Takes a token if there is one at `now`. False means: over the rate, reject.
    mutating func take(at now: NIODeadline) -> Bool {
        if let last {
            let elapsed = Double((now - last).nanoseconds) / 1_000_000_000
            tokens = min(burst, tokens + max(0, elapsed) * rate)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
