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
/// The threads are also put under the `SCHED_IDLE` policy: an event loop that wakes while such
/// a thread runs takes the core at once, where a niced thread may first finish its slice. A
/// 200-login storm at scrypt logN 14 against a 10,000 msgs/s relay on 2 cores: relay p99 during
/// the storm 12.3 and 11.8 ms niced, 9.4 and 7.3 ms idle-policy (logins took 9-12 s instead of
/// 9). The price: while the loops keep every core busy, logins wait for a free moment.
///
/// Linux keeps the nice value and the policy per thread, and `setpriority(PRIO_PROCESS, 0, ...)`
/// and `sched_setscheduler(0, ...)` change the calling thread's only (see setpriority(2),
/// "Bugs"), so only the threads of the pool that runs this work are affected. Lowering one's own
/// priority needs no privilege; raising it back would, which is why that pool runs nothing else.
enum BackgroundPriority {
    /// The nice value of background threads (0 is normal, 19 the lowest priority); it still
    /// counts should the idle policy be refused.
    static let niceValue: Int32 = 10

    /// `SCHED_IDLE` from <sched.h>, which Glibc declares only under `_GNU_SOURCE`, so Swift
    /// does not see the name.
    static let idlePolicy: Int32 = 5

    /// Sets the calling thread's nice value to `niceValue` and its policy to `idlePolicy`.
    /// Cheap (two syscalls) and idempotent; failures are ignored, the work then simply runs at
    /// a higher priority.
    static func applyToCurrentThread() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceValue)
        var parameters = sched_param(sched_priority: 0)
        _ = sched_setscheduler(0, idlePolicy, &parameters)
        #endif
    }

    /// The calling thread's scheduling policy (for tests).
    static func currentPolicy() -> Int32 {
        #if os(Linux)
        return sched_getscheduler(0)
        #else
        return 0
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
