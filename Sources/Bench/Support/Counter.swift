import Synchronization

/// A shared count that any thread bumps and the progress line reads (relaxed atomics:
/// totals are read after the work is done, progress may lag a little).
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)

    /// Adds one.
    func increment() {
        storage.add(1, ordering: .relaxed)
    }

    /// Adds `amount`.
    func add(_ amount: Int) {
        storage.add(amount, ordering: .relaxed)
    }

    /// The current count.
    var value: Int {
        storage.load(ordering: .relaxed)
    }
}
