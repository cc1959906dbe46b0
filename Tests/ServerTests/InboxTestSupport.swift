import Foundation
import Synchronization

@testable import Server

extension StoredMessage {
    /// A message for the inbox tests: a fresh UUID id unless one is given, sent at
    /// `milliseconds` since 1970.
    static func test(
        id: String = UUID().uuidString,
        from: String,
        to: String,
        body: String = "hello",
        at milliseconds: Int64 = 1_700_000_000_000
    ) -> StoredMessage {
        StoredMessage(id: id, from: from, to: to, body: body, sentAtMilliseconds: milliseconds)
    }
}

/// Helpers for the inbox tests.
enum InboxTestSupport {
    /// Runs `body(0)` ... `body(count - 1)` on `count` threads of their own, all at the same
    /// time, and returns when every one has finished.
    ///
    /// Not `DispatchQueue.concurrentPerform`: that runs at most one iteration per CPU at a
    /// time, so on a 2-core machine "8 threads" would be 2 and never queue up the way a
    /// server's thread pool does.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let finished = DispatchGroup()
        for index in 0..<count {
            finished.enter()
            Thread {
                body(index)
                finished.leave()
            }.start()
        }
        finished.wait()
    }
}

/// A value behind a lock that escaping closures (threads) can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}

/// Records what the store reports: each append's write generation and how far syncs
/// have got. Optionally makes every sync slow, as a slow disk would.
final class SyncLog: Sendable {
    struct Counts {
        var generations: [String: UInt64] = [:]
        var syncedThrough: UInt64 = 0
        var syncs = 0
        var stores = 0
    }

    let counts = Mutex(Counts())
    let syncDelayMicroseconds: UInt32

    init(syncDelayMicroseconds: UInt32 = 0) {
        self.syncDelayMicroseconds = syncDelayMicroseconds
    }

    func record(_ event: GDBMInboxStore.Event) {
        switch event {
        case .syncing:
            if syncDelayMicroseconds > 0 {
                usleep(syncDelayMicroseconds)
            }
        case .stored(_, let id, let generation):
            counts.withLock {
                $0.generations[id] = generation
                $0.stores += 1
            }
        case .synced(let generation):
            counts.withLock {
                $0.syncedThrough = max($0.syncedThrough, generation)
                $0.syncs += 1
            }
        case .syncFailed:
            break
        }
    }

    /// Whether a completed sync covers the write of message `id`.
    func isSynced(_ id: String) -> Bool {
        counts.withLock { counts in
            guard let generation = counts.generations[id] else {
                return false
            }
            return counts.syncedThrough >= generation
        }
    }
}

/// Replaces the descriptor a `GDBMFile` uses for `file` with another one until `restore()`,
/// so that GDBM's own calls fail the way they would on a bad disk. Linux only (/proc).
final class DescriptorSwap: Sendable {
    let target: Int32
    let saved: Int32

    /// Nil if no descriptor of this process is open on `file`.
    init?(file: String, with replacement: Int32) {
        guard let target = Self.descriptor(of: file), replacement >= 0 else {
            return nil
        }
        self.target = target
        saved = dup(target)
        dup2(replacement, target)
        close(replacement)
    }

    func restore() {
        dup2(saved, target)
        close(saved)
    }

    /// The descriptor open on `file`, found through /proc/self/fd.
    static func descriptor(of file: String) -> Int32? {
        let resolved = URL(fileURLWithPath: file).resolvingSymlinksInPath().path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for entry in entries {
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)
            if link == resolved, let descriptor = Int32(entry) {
                return descriptor
            }
        }
        return nil
    }
}

/// An observer that makes the next sync fail: while it runs, GDBM's descriptor points at
/// /dev/null, where fsync fails with EINVAL.
final class SyncFailureInjector: Sendable {
    let file: String
    let armed = Mutex(false)
    let swap = Mutex<DescriptorSwap?>(nil)
    let failedSyncs = Mutex(0)

    init(file: String) {
        self.file = file
    }

    func failNextSync() {
        armed.withLock { $0 = true }
    }

    func record(_ event: GDBMInboxStore.Event) {
        switch event {
        case .syncing:
            if armed.withLock({ armed in defer { armed = false }; return armed }) {
                swap.withLock { $0 = DescriptorSwap(file: file, with: open("/dev/null", O_WRONLY)) }
            }
        case .synced, .syncFailed:
            if case .syncFailed = event {
                failedSyncs.withLock { $0 += 1 }
            }
            swap.withLock { swap in
                swap?.restore()
                swap = nil
            }
        case .stored:
            break
        }
    }
}
