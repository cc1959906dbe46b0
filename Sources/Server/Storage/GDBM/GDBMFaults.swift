import Shared

/// Failures to inject into the `GDBMFile`s one store opens, so tests can make the next
/// store, delete, sync or open fail deterministically, the way a full or failing disk
/// makes them fail.
///
/// Per instance, never process-wide: a store is given its own `GDBMFaults` and passes it
/// to every file it opens (including reopening after a failure), so tests running in
/// parallel cannot disturb each other. Production code passes none, and then nothing
/// here is consulted.
///
/// An injected failure behaves like GDBM after a real write error: the call throws
/// `StorageError.io` without touching the file (for a sync: without fsync, so the writes
/// before it are of unknown durability, exactly as after a failed fsync), and the handle
/// then refuses every further call until it is closed and the file reopened.
final class GDBMFaults: Sendable {
    /// The calls a failure can be injected into.
    enum Operation: String, Sendable, CaseIterable {
        case open, store, delete, sync
    }

    /// How many of the next calls of each kind are to fail.
    private let armed = Locked<[Operation: Int]>([:])

    /// How many failures have been injected so far, per kind.
    private let injected = Locked<[Operation: Int]>([:])

    /// Creates a seam with nothing armed.
    init() {}

    /// Makes the next `times` calls of `operation` fail (`Int.max`: until `clear()`).
    func failNext(_ operation: Operation, times: Int = 1) {
        armed.withLock { $0[operation] = times }
    }

    /// Disarms every failure not yet injected: the "disk" works again.
    func clear() {
        armed.withLock { $0.removeAll() }
    }

    /// How many failures of `operation` were injected so far.
    func injectedCount(_ operation: Operation) -> Int {
        injected.withLock { $0[operation, default: 0] }
    }

    /// Whether this call of `operation` is to fail; counts it down if so.
    func shouldFail(_ operation: Operation) -> Bool {
        let fail = armed.withLock { armed -> Bool in
            guard let remaining = armed[operation], remaining > 0 else {
                return false
            }
            if remaining != Int.max {
                armed[operation] = remaining - 1
            }
            return true
        }
        if fail {
            injected.withLock { $0[operation, default: 0] += 1 }
        }
        return fail
    }
}
