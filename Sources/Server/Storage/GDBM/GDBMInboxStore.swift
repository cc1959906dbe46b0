import Foundation
import Shared

/// The production `InboxStore`: one GDBM file, `inbox.gdbm`, in the data directory.
///
/// Layout (see `GDBMInboxStore+Records.swift`): one record per waiting message, keyed by
/// recipient and id, holding the message and a sequence number that gives the order. An
/// append is one `gdbm_store`, a removal one `gdbm_delete`, whatever the inbox's size.
/// Every recipient's order, sizes and senders are mirrored in memory from open on, so
/// counts, caps and expiry never touch the disk.
///
/// Writes go through one writer thread (`InboxWriteQueue`): appends, removals and expiries
/// are queued, and the writer takes everything queued at once as a batch, applies it to
/// the file under the lock, runs one `gdbm_sync` for the whole batch, and only then answers
/// the batch's appends `.stored` (group commit). While it waits for the disk, new writes
/// queue up and form the next batch, so the batch grows with the load and the sync rate
/// stays at what the disk can do. Callers never block on the disk, nor hold a thread while
/// they wait: the writer resumes each caller's continuation once its answer is decided.
/// Reads run on the store's own threads (`GDBMThreads`).
///
/// The mirror changes as the writer applies the batch. Readers (`messages`, `counts`) take
/// the same lock, which the writer holds from the batch's first write until its sync has
/// succeeded or its appends have been rolled back, so a reader never sees an append that
/// is not durable.
///
/// Removals and expiries are not synced on their own (a removed message that comes back
/// after a crash is delivered again and dropped by id); the next batch with an append, or
/// `close()`, syncs them.
///
/// Failures (a full or failing disk): when a write or the sync of a batch fails, every
/// append of that batch is answered with the error: none of them is stored. After a failed
/// sync the writes before it are of unknown durability (the kernel may have dropped the
/// dirty pages with the error, and a later fsync would succeed without them), so the
/// batch's appends stay "not stored" even if their records are in the file. They are
/// taken out of the mirror at once and their keys go on a purge list; then the store
/// recovers: it closes the GDBM handle (GDBM refuses every call after a failed write),
/// reopens the file, rebuilds the mirror from it, leaving the purge list out, deletes the
/// purge list's records and syncs. Until that has succeeded, each new batch first tries
/// the recovery again, and fails with its error if it cannot: so the store refuses writes
/// while the disk is bad and takes them again, without a restart, once it works. If the
/// server stops before the purge has succeeded, such a record is found at the next open
/// and delivered after all; that is allowed (delivery is at-least-once, only "stored" is a
/// promise), and the sender was told "not stored", never the reverse. The operations of a
/// failed batch other than appends (removals, expiries) are answered with the error too;
/// what they did to the file is what the rebuilt mirror shows.
final class GDBMInboxStore: InboxStore {
    /// Name of the inbox file inside the data directory.
    static let fileName = "inbox.gdbm"

    /// What the store did, reported to the observer given at init (tests, measurements,
    /// the server's log). Reported under the store's lock, in the order it happened.
    enum Event: Sendable, Equatable {
        /// An append wrote its record; its write generation is `generation`.
        case stored(recipient: String, id: String, generation: UInt64)
        /// A sync is starting; it covers every write up to `generation`.
        case syncing(through: UInt64)
        /// That sync completed: every write up to `generation` is on stable storage.
        case synced(through: UInt64)
        /// That sync failed: the appends of its batch are answered with the error.
        case syncFailed(through: UInt64)
        /// A write or sync failed; the store is about to reopen the file.
        case failed(StorageError)
        /// The file was reopened, the mirror rebuilt and the failed appends purged: the
        /// store takes writes again.
        case recovered
        /// Reopening, rebuilding or purging failed; the next batch tries again first.
        case recoveryFailed(StorageError)
    }

    /// Path of the inbox file.
    let path: String

    /// The limits every inbox is held to.
    let limits: InboxLimits

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let observer: (@Sendable (Event) -> Void)?

    /// Failures to inject into every file this store opens (tests); nil in production.
    private let faults: GDBMFaults?

    private let state: Locked<State>

    private let queue = InboxWriteQueue()

    /// Where reads, and the wait for the writer at close, run.
    private let threads: GDBMThreads

    /// Everything the lock guards.
    private struct State {
        /// The open file; nil while a failed recovery could not reopen it.
        var file: GDBMFile?
        var isClosed = false
        /// The mirror: each recipient's messages in order, without bodies.
        var inboxes: [String: InboxIndex]
        /// Sequence number of the next append's record.
        var nextSequence: UInt64
        /// Generation of the latest append's write; appends are numbered from 1.
        var written: UInt64 = 0
        /// A write or sync failed and the recovery has not succeeded since.
        var needsRecovery = false
        /// Records of appends whose batch failed: to delete (and sync) before anything
        /// else is written, and never to show in the mirror meanwhile.
        var purge: Set<[UInt8]> = []
    }

    /// Opens (or creates) `inbox.gdbm` in `directory` and reads every record into the
    /// mirror; starts the writer.
    ///
    /// - Parameters:
    ///   - observer: told of every write, sync, failure and recovery, under the store's
    ///     lock; keep it quick.
    ///   - faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened or read.
    init(
        directory: DataDirectory,
        limits: InboxLimits = InboxLimits(),
        observer: (@Sendable (Event) -> Void)? = nil,
        faults: GDBMFaults? = nil
    ) throws(StorageError) {
        self.directory = directory
        self.limits = limits
        self.observer = observer
        self.faults = faults
        let path = directory.path(for: Self.fileName)
        self.path = path
        // Every read takes the store's lock, so more threads would only wait for it; two
        // let one read decode its records (outside the lock) while the next one fetches.
        threads = GDBMThreads(count: 2, closedError: .closed(path))
        let file = try GDBMFile(path: path, faults: faults)
        let loaded: Loaded
        do {
            loaded = try Self.load(from: file, path: path)
        } catch {
            try? file.close()
            throw error
        }
        state = Locked(State(file: file, inboxes: loaded.inboxes, nextSequence: loaded.nextSequence))
        startWriter()
    }

    deinit {
        closeNow()
    }

    // MARK: - InboxStore

    /// Queues `message` for the writer, before the first suspension (so appends keep the
    /// order they were started in); returns once the batch holding it has been synced
    /// (`.stored`), refused (`.full`) or has failed.
    ///
    /// An id already in that inbox is the same message: nothing is written, and the answer
    /// is `.stored` (once the batch that wrote it is synced, if that is this one).
    func append(_ message: StoredMessage, space: InboxSpace) async throws(StorageError) -> InboxAppendResult {
        try await written { .append(message, space, completion: $0) }
    }

    func messages(for recipient: String, from sender: String?) async throws(StorageError) -> [StoredMessage] {
        try await threads.run { () throws(StorageError) in try self.readMessages(for: recipient, from: sender) }
    }

    func counts(for recipient: String) async throws(StorageError) -> [String: Int] {
        try await threads.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard !state.isClosed else {
                    throw .closed(self.path)
                }
                return state.inboxes[recipient]?.counts() ?? [:]
            }
        }
    }

    /// Queues the removal for the writer, before the first suspension; not synced (see the
    /// type's documentation).
    @discardableResult
    func remove(recipient: String, id: String) async throws(StorageError) -> Bool {
        try await written { .remove(recipient: recipient, id: id, completion: $0) }
    }

    /// Deletes the expired messages through the writer; answered from the mirror, without
    /// queueing behind a sync, when nothing has expired. Not synced.
    func expire(recipient: String, before cutoff: Date) async throws(StorageError) -> Int {
        let anyExpired = try await threads.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard !state.isClosed else {
                    throw .closed(self.path)
                }
                return state.inboxes[recipient]?.entries(sentBefore: cutoff).isEmpty == false
            }
        }
        guard anyExpired else {
            return 0
        }
        return try await written { .expire(recipient: recipient, cutoff: cutoff, completion: $0) }
    }

    /// From the mirror, like `counts`.
    func usage() async throws(StorageError) -> [String: InboxUsage] {
        try await threads.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard !state.isClosed else {
                    throw .closed(self.path)
                }
                return state.inboxes.mapValues(\.usage)
            }
        }
    }

    /// Lets the writer finish what is queued, then syncs (covering removals made since the
    /// last append) and closes. Calling it again does nothing.
    func close() async {
        queue.close()
        // Waiting for the writer blocks: on a thread of the store's own. Fails only if an
        // earlier close has shut the threads down, and that one closed the file.
        _ = try? await threads.run { self.closeNow() }
        await threads.shutDown()
    }

    /// The in-memory mirror, for tests.
    func indexSnapshot() async throws(StorageError) -> [String: InboxIndex] {
        try await threads.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard !state.isClosed else {
                    throw .closed(self.path)
                }
                return state.inboxes
            }
        }
    }

    /// Hands an operation to the writer and waits for its answer, without a thread blocked.
    ///
    /// Queued before the first suspension: `withCheckedContinuation` runs its body at once.
    private func written<Value: Sendable>(
        _ operation: (@escaping @Sendable (Result<Value, StorageError>) -> Void) -> InboxWriteOperation
    ) async throws(StorageError) -> Value {
        let path = self.path
        let queue = self.queue
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, StorageError>, Never>) in
            if !queue.enqueue(operation({ continuation.resume(returning: $0) })) {
                continuation.resume(returning: .failure(.closed(path)))
            }
        }
        return try result.get()
    }

    /// `messages(for:from:)`, on the calling thread: reads the records the mirror lists.
    private func readMessages(for recipient: String, from sender: String?) throws(StorageError) -> [StoredMessage] {
        let records = try state.withLock { state throws(StorageError) -> [(key: [UInt8], value: [UInt8])] in
            guard !state.isClosed else {
                throw .closed(path)
            }
            guard let entries = state.inboxes[recipient]?.entries(from: sender), !entries.isEmpty else {
                return []
            }
            guard let file = state.file else {
                throw notReopened
            }
            var records: [(key: [UInt8], value: [UInt8])] = []
            records.reserveCapacity(entries.count)
            for entry in entries {
                let key = Self.recordKey(recipient: recipient, id: entry.id)
                // Missing only if a failed batch left the mirror ahead of the file.
                if let value = try file.fetch(key: key) {
                    records.append((key, value))
                }
            }
            return records
        }
        var messages: [StoredMessage] = []
        messages.reserveCapacity(records.count)
        for record in records {
            messages.append(try Self.decodeRecord(record.value, key: record.key, path: path))
        }
        return messages
    }

    /// `close()` on the calling thread, which it blocks until the writer has stopped.
    private func closeNow() {
        queue.close()
        // From the writer thread (the last reference dropped there) the writer is between
        // batches and stops after this one: waiting would deadlock.
        if !queue.isWriterThread {
            queue.waitForWriter()
        }
        state.withLock { state in
            guard !state.isClosed else {
                return
            }
            if let file = state.file, !state.needsRecovery {
                // Every acknowledged append was synced before it was answered, so a failing
                // sync here loses nothing that was acknowledged.
                try? sync(file, through: state.written)
            }
            try? state.file?.close()
            state.file = nil
            state.isClosed = true
            state.inboxes = [:]
        }
    }

    // MARK: - The writer

    private func startWriter() {
        let path = self.path
        queue.startWriter(
            named: "inbox-writer", for: self, write: { store, batch in store.write(batch) },
            orphaned: { batch in batch.forEach { $0.fail(.closed(path)) } })
    }

    /// Applies `batch` and syncs it under the lock, then answers every operation.
    ///
    /// The answers (each resumes a caller's continuation) run after the lock is released,
    /// so readers do not wait while a large batch's callers are resumed.
    private func write(_ batch: [InboxWriteOperation]) {
        let answers = state.withLock { state in apply(batch, to: &state) }
        for answer in answers {
            answer()
        }
    }

    /// What `write` does under the lock; returns the answers to give.
    private func apply(_ batch: [InboxWriteOperation], to state: inout State) -> [@Sendable () -> Void] {
        var answers: [@Sendable () -> Void] = []
        answers.reserveCapacity(batch.count)
        guard !state.isClosed else {
            let error = StorageError.closed(path)
            return batch.map { operation in { operation.fail(error) } }
        }
        if state.needsRecovery {
            do throws(StorageError) {
                try recover(&state)
            } catch {
                return batch.map { operation in { operation.fail(error) } }
            }
        }
        guard let file = state.file else {
            let error = notReopened
            return batch.map { operation in { operation.fail(error) } }
        }

        // Appends answered only once the batch's sync has decided, and what they wrote.
        var waitingForSync: [@Sendable (Result<InboxAppendResult, StorageError>) -> Void] = []
        var written: [(recipient: String, id: String, key: [UInt8])] = []
        var writtenIDs = Set<[UInt8]>()
        var failure: StorageError?

        for operation in batch {
            if let failure {
                // The handle refuses every call after a failed write: answer the rest.
                if case .append(_, _, let completion) = operation {
                    waitingForSync.append(completion)
                } else {
                    answers.append { operation.fail(failure) }
                }
                continue
            }
            switch operation {
            case .append(let message, let space, let completion):
                let key = Self.recordKey(recipient: message.to, id: message.id)
                if state.inboxes[message.to]?.contains(id: message.id) == true {
                    if writtenIDs.contains(key) {
                        // Written by this batch: stored exactly when the batch is.
                        waitingForSync.append(completion)
                    } else {
                        // Written and synced by an earlier batch.
                        answers.append { completion(.success(.stored)) }
                    }
                    continue
                }
                let entry = InboxIndex.Entry(message)
                let usage = state.inboxes[message.to]?.usage ?? InboxUsage()
                if space == .withinCaps,
                    let reason = InboxRules.refusal(adding: entry.size, to: usage, of: message.to, limits: limits)
                {
                    answers.append { completion(.success(.full(reason))) }
                    continue
                }
                waitingForSync.append(completion)
                do throws(StorageError) {
                    try file.store(key: key, value: Self.encodeRecord(message, sequence: state.nextSequence), replace: true)
                } catch {
                    // Half-written at worst: purged with the rest of the batch.
                    state.purge.insert(key)
                    failure = error
                    continue
                }
                state.nextSequence += 1
                // In place (the default subscript's modify), so the index is not copied.
                state.inboxes[message.to, default: InboxIndex()].append(entry)
                state.written += 1
                written.append((message.to, message.id, key))
                writtenIDs.insert(key)
                observer?(.stored(recipient: message.to, id: message.id, generation: state.written))

            case .remove(let recipient, let id, let completion):
                guard state.inboxes[recipient]?.contains(id: id) == true else {
                    answers.append { completion(.success(false)) }
                    continue
                }
                do throws(StorageError) {
                    try file.delete(key: Self.recordKey(recipient: recipient, id: id))
                } catch {
                    failure = error
                    answers.append { completion(.failure(error)) }
                    continue
                }
                Self.removeFromMirror([id], recipient: recipient, state: &state)
                answers.append { completion(.success(true)) }

            case .expire(let recipient, let cutoff, let completion):
                let expired = state.inboxes[recipient]?.entries(sentBefore: cutoff).map(\.id) ?? []
                var deleted: [String] = []
                do throws(StorageError) {
                    for id in expired {
                        try file.delete(key: Self.recordKey(recipient: recipient, id: id))
                        deleted.append(id)
                    }
                } catch {
                    failure = error
                    answers.append { completion(.failure(error)) }
                }
                Self.removeFromMirror(deleted, recipient: recipient, state: &state)
                if failure == nil {
                    let count = deleted.count
                    answers.append { completion(.success(count)) }
                }
            }
        }

        if failure == nil && !written.isEmpty {
            do throws(StorageError) {
                try sync(file, through: state.written)
            } catch {
                failure = error
            }
        }

        let synced = waitingForSync
        guard let failure else {
            answers.append { for completion in synced { completion(.success(.stored)) } }
            return answers
        }
        // Not stored, whatever reached the file: out of the mirror, onto the purge list.
        for append in written {
            Self.removeFromMirror([append.id], recipient: append.recipient, state: &state)
            state.purge.insert(append.key)
        }
        answers.append { for completion in synced { completion(.failure(failure)) } }
        observer?(.failed(failure))
        state.needsRecovery = true
        // At once, so reads work again without waiting for the next write.
        try? recover(&state)
        return answers
    }

    /// While a failed recovery could not reopen the file.
    private var notReopened: StorageError {
        .unavailable("\(path) could not be reopened after a failed write; retrying with the next write")
    }

    /// Reopens the file, rebuilds the mirror from it without the purge list, then deletes
    /// the purge list's records and syncs. Throws (and leaves `needsRecovery` set) if any
    /// step fails; the file is then left open for reads if it could be reopened.
    private func recover(_ state: inout State) throws(StorageError) {
        try? state.file?.close()
        state.file = nil
        do throws(StorageError) {
            let file = try GDBMFile(path: path, faults: faults)
            let loaded: Loaded
            do throws(StorageError) {
                loaded = try Self.load(from: file, path: path, leavingOut: state.purge)
            } catch {
                try? file.close()
                throw error
            }
            state.file = file
            state.inboxes = loaded.inboxes
            state.nextSequence = max(state.nextSequence, loaded.nextSequence)
            if !state.purge.isEmpty {
                do throws(StorageError) {
                    for key in state.purge {
                        try file.delete(key: key)
                    }
                    try file.sync()
                } catch {
                    // GDBM refuses every call on this handle now; one more for reads.
                    try? file.close()
                    state.file = try? GDBMFile(path: path, faults: faults)
                    throw error
                }
                state.purge.removeAll()
            }
        } catch {
            observer?(.recoveryFailed(error))
            throw error
        }
        state.needsRecovery = false
        observer?(.recovered)
    }

    /// `gdbm_sync`, with the observer told before and after (the tests follow syncs and
    /// answers in order through it).
    private func sync(_ file: GDBMFile, through written: UInt64) throws(StorageError) {
        observer?(.syncing(through: written))
        do throws(StorageError) {
            try file.sync()
        } catch {
            observer?(.syncFailed(through: written))
            throw error
        }
        observer?(.synced(through: written))
    }

    /// Takes `ids` out of `recipient`'s mirrored index, in place; drops an emptied index.
    private static func removeFromMirror(_ ids: [String], recipient: String, state: inout State) {
        guard !ids.isEmpty else {
            return
        }
        state.inboxes[recipient]?.remove(ids: Set(ids))
        if state.inboxes[recipient]?.isEmpty == true {
            state.inboxes[recipient] = nil
        }
    }
}
