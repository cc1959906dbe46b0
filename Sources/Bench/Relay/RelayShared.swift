import Shared

/// What every relay peer of one run shares: the latency windows and the counters the
/// progress line and the results read. Thread-safe (atomics and one lock).
final class RelayShared: Sendable {
    /// Body size of each message, in bytes.
    let size: Int
    /// Latencies by send window.
    let recorder = LatencyRecorder()
    /// Messages written by the senders.
    let sent = Counter()
    /// Messages that reached their partner.
    let received = Counter()
    /// Sends the server refused with an `error` frame.
    let failures = Counter()
    /// Sends answered `stored` while the pair stood: the partner's live window was full (or
    /// the partner had stopped reading), so the message went through the inbox. It still
    /// arrives, and counts in `received` then.
    let stored = Counter()
    /// Rate mode only: sends skipped because that peer already had too many in flight
    /// (the server or the bench could not keep up with the offered rate).
    let skipped = Counter()
    private let firstFailure = Locked<String?>(nil)

    init(size: Int) {
        self.size = size
    }

    /// Counts a refused send and keeps the first reason.
    func failed(_ reason: String) {
        failures.increment()
        firstFailure.withLock { if $0 == nil { $0 = reason } }
    }

    /// The first refusal's reason, if any.
    var firstFailureReason: String? {
        firstFailure.withLock { $0 }
    }
}
