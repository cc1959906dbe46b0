#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex, with the same `withLock` shape as the standard
/// library's `Mutex` (typed throws, non-copyable values).
///
/// Why not `Synchronization.Mutex`: on Linux it waits on raw futexes, which
/// ThreadSanitizer does not model, so every access it protects is reported as a data race
/// (checked here with a four-thread counter that ends correct and still reports). A lock
/// the sanitizer understands keeps `--sanitize=thread` runs meaningful.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    // @unchecked: `value` is only touched between lock and unlock.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Behind a pointer rather than a stored `var`: an `inout` access to a class's stored
    /// property is checked for exclusivity at run time (a thread-local access set), which the
    /// mutex makes redundant, on every call of the relay's hot path.
    private let value: UnsafeMutablePointer<Value>

    public init(_ value: consuming Value) {
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
        // On the heap: a pthread mutex must not move, and a Swift stored property may.
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
