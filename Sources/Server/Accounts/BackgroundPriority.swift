#if canImport(Glibc)
import Glibc
#endif

/// Lowers the scheduling priority of the calling thread, for CPU-heavy work that must not
/// delay the event loops: the KDF (scrypt) of registrations and logins.
///
/// A login storm is hundreds of scrypt runs of 10-40 ms each. At the same priority as the event
/// loops they take the cores in turn with them, and every relayed message waits behind a KDF
/// slice; niced, the scheduler runs a loop as soon as it has work and gives the KDF what is left.
/// Logins take the same CPU, only later when the loops are busy.
///
/// Linux keeps the nice value per thread, and `setpriority(PRIO_PROCESS, 0, ...)` changes the
/// calling thread's only (see setpriority(2), "Bugs"), so only the threads of the pool that
/// runs this work are affected. Raising one's own nice value needs
/// no privilege; lowering it back would, which is why that pool runs nothing else.
enum BackgroundPriority {
    /// The nice value of background threads (0 is normal, 19 the lowest priority).
    static let niceValue: Int32 = 10

    /// Sets the calling thread's nice value to `niceValue`. Cheap (one syscall) and idempotent;
    /// failures are ignored, the work then simply runs at normal priority.
    static func applyToCurrentThread() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceValue)
        #endif
    }

    /// The calling thread's nice value (for tests).
    static func currentNiceValue() -> Int32 {
        #if os(Linux)
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
        return 0
        #endif
    }
}
