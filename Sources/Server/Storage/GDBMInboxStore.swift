import Foundation
import Synchronization

/// The production `InboxStore`: one GDBM file, `inbox.gdbm`, in the data directory.
///
/// Records (see `GDBMInboxStore+Records.swift`):
/// - `m:<recipient>:<id>`: one message, as JSON.
/// - `i:<recipient>`: that recipient's messages in order, with the id, sender, size and
///   send time of each, so caps, counts and expiry never read a body.
///
/// Every index record is mirrored in memory from open on, so counts and cap checks do not
/// touch the disk. The mirror changes only after the GDBM writes it reflects succeeded.
///
/// Durability by group commit: `append` writes its two records (message first, then
/// index) under the lock and takes the next write generation; then, under the lock again,
/// it returns at once if a sync that started after its write has completed, and otherwise
/// runs `gdbm_sync` itself, covering every write so far. While one thread syncs, the
/// others queue on the lock and write; the next sync covers all of them. So no append
/// returns before a sync covering it, and concurrent appends share syncs (one `GDBMFile`
/// handle is not thread-safe, so the sync holds the lock too; the sharing comes from the
/// writes queued behind it). Measured on 2 cores: 8 writer threads shared each sync about
/// 6 ways, 64 threads about 40 ways. An explicit coordinator (a condition variable that
/// held the sync back until no write was in progress) batched no better, so it was dropped.
///
/// If a write fails, the append throws and the mirror is unchanged. If a sync fails, every
/// append it covered throws and is taken out of the mirror; deleting its records is best
/// effort. (A later sync succeeding would not make them durable: the kernel may have
/// dropped their pages with the error. GDBM marks the handle as needing recovery anyway,
/// so after a failed write or sync every call that reads or writes the file throws until
/// the store is reopened, as with `GDBMAccountStore`.) Removals are not synced on their
/// own: the next append's sync, or `close()`, covers them.
///
/// Cost: an append rewrites its recipient's whole index record, about 70 bytes per waiting
/// message, so the bytes each sync flushes grow with the size of the inboxes written to.
///
/// Calls block on disk; make them from a thread pool.
final class GDBMInboxStore: InboxStore {
    /// Name of the inbox file inside the data directory.
    static let fileName = "inbox.gdbm"

    /// What the store did, reported to the observer given at init (tests and
    /// measurements). Reported under the store's lock, in the order it happened.
    enum Event: Sendable, Equatable {
        /// An append wrote its records; its write generation is `generation`.
        case stored(recipient: String, id: String, generation: UInt64)
        /// A sync is starting; it covers every write up to `generation`.
        case syncing(through: UInt64)
        /// That sync completed: every write up to `generation` is on stable storage.
        case synced(through: UInt64)
        /// That sync failed: the appends it covered throw and are rolled back.
        case syncFailed(through: UInt64)
    }

    /// Path of the inbox file.
    let path: String

    /// The limits every inbox is held to.
    let limits: InboxLimits

    /// What opening had to repair after a crash (records found without their partner),
    /// fit to log. Empty after a clean shutdown.
    let notes: [String]

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let observer: (@Sendable (Event) -> Void)?

    private let state: Mutex<State>

    /// Everything the lock guards.
    private struct State {
        let file: GDBMFile
        var isClosed = false
        /// The mirror of the index records.
        var inboxes: [String: InboxIndex]
        /// Generation of the latest append's write; appends are numbered from 1.
        var written: UInt64 = 0
        /// Every write up to here has been through a sync, which succeeded or failed.
        var decided: UInt64 = 0
        /// Appends written since the last sync, oldest first: what a failed sync rolls back.
        var unsynced: [(generation: UInt64, recipient: String, id: String)] = []
        /// Appends whose sync failed, until the append itself has thrown the error.
        var failures: [UInt64: StorageError] = [:]
    }

    /// What the locked part of `append` did.
    private enum Written {
        case stored(generation: UInt64)
        case duplicate(written: UInt64)
        case full(String)
    }

    /// Opens (or creates) `inbox.gdbm` in `directory` and reads every index into memory,
    /// repairing what a crash between two writes left behind (see `notes`).
    ///
    /// - Parameter observer: told of every write and sync, under the store's lock; keep it
    ///   quick. For tests and measurements.
    /// - Throws: `StorageError` if the file cannot be opened, read or repaired.
    init(
        directory: DataDirectory,
        limits: InboxLimits = InboxLimits(),
        observer: (@Sendable (Event) -> Void)? = nil
    ) throws(StorageError) {
        self.directory = directory
        self.limits = limits
        self.observer = observer
        let path = directory.path(for: Self.fileName)
        self.path = path
        let file = try GDBMFile(path: path)
        let loaded: (inboxes: [String: InboxIndex], notes: [String])
        do {
            loaded = try Self.loadInboxes(from: file, path: path)
        } catch {
            try? file.close()
            throw error
        }
        notes = loaded.notes
        state = Mutex(State(file: file, inboxes: loaded.inboxes))
    }

    /// Adds `message` to `message.to`'s inbox and returns once a sync covers it.
    ///
    /// An id already in that inbox is the same message: nothing is written, and `.stored`
    /// is returned once everything written so far is synced.
    func append(_ message: StoredMessage) throws(StorageError) -> InboxAppendResult {
        // Encode before taking the lock: every writer queues on it.
        let record = try Self.encodeMessage(message, path: path)
        let entry = InboxIndex.Entry(message)
        let messageKey = Self.messageKey(recipient: message.to, id: message.id)
        let indexKey = Self.indexKey(recipient: message.to)

        let written = try state.withLock { state throws(StorageError) -> Written in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            var index = state.inboxes[message.to] ?? InboxIndex()
            if index.contains(id: entry.id) {
                return .duplicate(written: state.written)
            }
            if let reason = index.refusal(adding: entry, for: message.to, limits: limits) {
                return .full(reason)
            }
            index.append(entry)
            // The message before the index, so a crash in between leaves an unlisted
            // record (indexed at the next open), never an entry pointing at nothing.
            do throws(StorageError) {
                try state.file.store(key: messageKey, value: record, replace: true)
                try state.file.store(key: indexKey, value: Self.encodeIndex(index), replace: true)
            } catch {
                _ = try? state.file.delete(key: messageKey)
                throw error
            }
            state.inboxes[message.to] = index
            state.written += 1
            state.unsynced.append((state.written, message.to, message.id))
            observer?(.stored(recipient: message.to, id: message.id, generation: state.written))
            return .stored(generation: state.written)
        }

        switch written {
        case .full(let reason):
            return .full(reason)
        case .stored(let generation):
            try syncIfNeeded(through: generation, ownAppend: true)
            return .stored
        case .duplicate(let generation):
            try syncIfNeeded(through: generation, ownAppend: false)
            return .stored
        }
    }

    func messages(for recipient: String, from sender: String?) throws(StorageError) -> [StoredMessage] {
        let records = try state.withLock { state throws(StorageError) -> [(key: [UInt8], value: [UInt8])] in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            guard let index = state.inboxes[recipient] else {
                return []
            }
            var records: [(key: [UInt8], value: [UInt8])] = []
            for entry in index.entries(from: sender) {
                let key = Self.messageKey(recipient: recipient, id: entry.id)
                // Missing only if a failed write left the index listing a deleted record.
                if let value = try state.file.fetch(key: key) {
                    records.append((key, value))
                }
            }
            return records
        }
        var messages: [StoredMessage] = []
        messages.reserveCapacity(records.count)
        for record in records {
            messages.append(try Self.decodeMessage(record.value, key: record.key, path: path))
        }
        return messages
    }

    func counts(for recipient: String) throws(StorageError) -> [String: Int] {
        try state.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            return state.inboxes[recipient]?.counts() ?? [:]
        }
    }

    /// Deletes the message record, then rewrites the index; not synced (see the type's doc).
    @discardableResult
    func remove(recipient: String, id: String) throws(StorageError) -> Bool {
        try state.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            guard var index = state.inboxes[recipient], index.contains(id: id) else {
                return false
            }
            index.remove(ids: [id])
            try state.file.delete(key: Self.messageKey(recipient: recipient, id: id))
            try Self.writeIndex(index, recipient: recipient, to: state.file)
            state.inboxes[recipient] = index.isEmpty ? nil : index
            return true
        }
    }

    /// Deletes the expired message records, then rewrites the index once; not synced.
    func expire(recipient: String, before cutoff: Date) throws(StorageError) -> Int {
        try state.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            guard var index = state.inboxes[recipient] else {
                return 0
            }
            let expired = Set(index.entries(sentBefore: cutoff).map(\.id))
            guard !expired.isEmpty else {
                return 0
            }
            index.remove(ids: expired)
            for id in expired {
                try state.file.delete(key: Self.messageKey(recipient: recipient, id: id))
            }
            try Self.writeIndex(index, recipient: recipient, to: state.file)
            state.inboxes[recipient] = index.isEmpty ? nil : index
            return expired.count
        }
    }

    /// Syncs (covering removals made since the last append) and closes. Calling it again
    /// does nothing.
    func close() {
        state.withLock { state in
            guard !state.isClosed else {
                return
            }
            sync(&state)
            // Every acknowledged append was synced before it returned, so a failing close
            // loses nothing that was acknowledged; the handle is released either way.
            try? state.file.close()
            state.isClosed = true
            state.inboxes = [:]
        }
    }

    /// The in-memory mirror of the index records, for tests.
    func indexSnapshot() throws(StorageError) -> [String: InboxIndex] {
        try state.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw .closed(path: path)
            }
            return state.inboxes
        }
    }

    // MARK: - Group commit

    /// Returns once a sync covers write `generation`, running one if none has yet.
    ///
    /// - Parameter ownAppend: whether `generation` is the caller's own write, whose failed
    ///   sync it must report; false for a duplicate, which only waits.
    private func syncIfNeeded(through generation: UInt64, ownAppend: Bool) throws(StorageError) {
        try state.withLock { state throws(StorageError) in
            if generation > state.decided {
                // No sync has covered this write: this one covers it and every write
                // queued behind the lock while the previous sync ran.
                sync(&state)
            }
            if ownAppend, let error = state.failures.removeValue(forKey: generation) {
                throw error
            }
        }
    }

    /// Syncs every write so far; on failure rolls back the appends it covered and records
    /// the error for each of them to throw.
    private func sync(_ state: inout State) {
        let target = state.written
        observer?(.syncing(through: target))
        do throws(StorageError) {
            try state.file.sync()
            observer?(.synced(through: target))
        } catch {
            observer?(.syncFailed(through: target))
            rollBack(&state, error: error)
        }
        state.decided = target
        state.unsynced.removeAll(keepingCapacity: true)
    }

    /// Takes back every unsynced append: records `error` for each to throw, deletes their
    /// records, and removes them from the mirror.
    ///
    /// The deletes are best effort: a failed `gdbm_sync` marks the handle as needing
    /// recovery, and GDBM then refuses every call until the file is reopened. The mirror
    /// is changed even so, to match what the callers are told (not stored). The next open
    /// rebuilds it from the file, where such a message may survive and be delivered after
    /// all; the contract allows that, since only "stored" is a promise.
    private func rollBack(_ state: inout State, error: StorageError) {
        var idsByRecipient: [String: Set<String>] = [:]
        for append in state.unsynced {
            state.failures[append.generation] = error
            idsByRecipient[append.recipient, default: []].insert(append.id)
            _ = try? state.file.delete(key: Self.messageKey(recipient: append.recipient, id: append.id))
        }
        for (recipient, ids) in idsByRecipient {
            guard var index = state.inboxes[recipient] else {
                continue
            }
            index.remove(ids: ids)
            _ = try? Self.writeIndex(index, recipient: recipient, to: state.file)
            state.inboxes[recipient] = index.isEmpty ? nil : index
        }
    }

    /// Stores `recipient`'s index record, or deletes it when the index is empty.
    private static func writeIndex(_ index: InboxIndex, recipient: String, to file: GDBMFile) throws(StorageError) {
        if index.isEmpty {
            try file.delete(key: indexKey(recipient: recipient))
        } else {
            try file.store(key: indexKey(recipient: recipient), value: encodeIndex(index), replace: true)
        }
    }
}
