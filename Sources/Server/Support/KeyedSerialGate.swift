import Shared

/// Runs async work one at a time per key (a username), in the order it arrived; work under
/// different keys runs side by side. For work whose steps must not interleave with the same
/// steps of another call, across suspensions: an actor would let a second call in at the
/// first one's `await`.
final class KeyedSerialGate: Sendable {
    /// The callers waiting behind the one running, per key; a key is present while a call
    /// under it runs.
    private let waiting = Locked<[String: [CheckedContinuation<Void, Never>]]>([:])

    init() {}

    /// Runs `body` once every earlier call under `key` has finished.
    func run<Value>(_ key: String, _ body: () async throws -> Value) async rethrows -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runsNow = waiting.withLock { waiting in
                guard waiting[key] != nil else {
                    waiting[key] = []
                    return true
                }
                waiting[key]!.append(continuation)
                return false
            }
            if runsNow { continuation.resume() }
        }
        defer { leave(key) }
        return try await body()
    }

    /// Lets the next caller under `key` in, or frees the key.
    private func leave(_ key: String) {
        let next = waiting.withLock { waiting -> CheckedContinuation<Void, Never>? in
            guard var queue = waiting[key], !queue.isEmpty else {
                waiting[key] = nil
                return nil
            }
            let next = queue.removeFirst()
            waiting[key] = queue
            return next
        }
        next?.resume()
    }
}
