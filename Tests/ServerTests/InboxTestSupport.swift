import Foundation
import Shared

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

/// Records what the store reports: each append's write generation and how far syncs
/// have got. Optionally makes every sync slow, as a slow disk would (the observer runs on
/// the writer thread just before the sync, so writers queue up behind it as they would).
final class SyncLog: Sendable {
    struct Counts {
        var generations: [String: UInt64] = [:]
        var syncedThrough: UInt64 = 0
        var syncs = 0
        var stores = 0
    }

    let counts = Locked(Counts())
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
        case .syncFailed, .failed, .recovered, .recoveryFailed:
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

/// Every event a store reported, in order, for tests that check failures and recoveries.
final class EventLog: Sendable {
    let events = Locked<[GDBMInboxStore.Event]>([])

    func record(_ event: GDBMInboxStore.Event) {
        events.withLock { $0.append(event) }
    }

    /// How many events `matching` picks out.
    func count(_ matching: (GDBMInboxStore.Event) -> Bool) -> Int {
        events.withLock { $0.filter(matching).count }
    }

    var recoveries: Int { count { $0 == .recovered } }
    var failures: Int { count { if case .failed = $0 { return true } else { return false } } }
    var syncs: Int { count { if case .synced = $0 { return true } else { return false } } }
}
