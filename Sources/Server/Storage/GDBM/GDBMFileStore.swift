import Foundation
import Shared

/// The GDBM `FileStore`: one file, `files.gdbm`, in the data directory.
///
/// Layout (see `GDBMFileStore+Records.swift`): one record per file (sender, recipient,
/// sizes, chunks stored, outcome), one record per chunk, so reading a chunk reads that
/// record only, and a directory of the file ids, which is what opening reads (never the
/// chunks). Every record is mirrored in memory from open on (`Mirror`), with the bytes held
/// per recipient, so lists, caps and expiry never touch the disk.
///
/// Writes go through one writer thread (`WriteQueue`): the writer takes everything queued
/// at once as a batch, applies it to the file and the mirror under the lock (so each cap is
/// decided with every earlier write of the batch counted), runs one `gdbm_sync` for the
/// whole batch, and only then answers it. Chunks an uploader sends without waiting for each
/// answer (queued in order, as `Task.immediate` calls do) share syncs that way. Reads run
/// on the store's own threads (`GDBMThreads`) and take the same lock, which the writer holds
/// until the batch is synced, so a reader never sees a write that is not durable.
///
/// Failures (a full or failing disk): when a write or the sync of a batch fails, every
/// write of the batch is answered with the error, and the batch is undone: the mirror goes
/// back to what it was, and the records the batch changed are listed to be rewritten from
/// it. Chunks are only deleted after a batch's sync has succeeded, so there is always
/// something to go back to. Then the store recovers: it closes the handle (GDBM refuses
/// every call after a failed write), reopens the file, rewrites the listed records and
/// syncs. Until that has succeeded each new batch tries it first and fails with its error
/// if it cannot, so writes are refused while the disk is bad and taken again, without a
/// restart, once it works; reads go on from the mirror meanwhile. If the server stops
/// before a recovery has succeeded, the next open reads what the failed batch left: a chunk
/// answered with an error may turn out stored, or a file ended; nothing answered is lost.
///
/// A crash loses only writes that were not answered. Their leftovers are harmless: a record
/// of a begin whose sync never ran is not in the directory (it is written after the
/// record), or is listed without its record and skipped at open; a chunk past the stored
/// ones is overwritten when the upload resumes, and any chunk of a file is deleted again
/// when its record goes.
final class GDBMFileStore: FileStore {
    /// Name of the file inside the data directory.
    static let fileName = "files.gdbm"

    /// What the store did, reported to the observer given at init (the server's log, tests).
    /// Reported under the store's lock, on the writer thread, in the order it happened.
    enum Event: Sendable, Equatable {
        /// A batch's sync is starting; it covers the batch's `operations` (some of which may
        /// have written nothing: a refusal, a duplicate chunk).
        case syncing(operations: Int)
        /// That sync completed.
        case synced(operations: Int)
        /// A write or sync failed; the batch was answered with the error and undone.
        case failed(StorageError)
        /// The file was reopened and the records of failed batches rewritten: the store
        /// takes writes again.
        case recovered
        /// Reopening or rewriting failed; the next batch tries again first.
        case recoveryFailed(StorageError)
    }

    /// Path of the file.
    let path: String

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let observer: (@Sendable (Event) -> Void)?

    /// Failures to inject into every file this store opens (tests); nil in production.
    private let faults: GDBMFaults?

    private let state: Locked<State>

    private let queue = WriteQueue<Write>()

    /// Where reads, and the wait for the writer at close, run.
    private let threads: GDBMThreads

    /// Everything the lock guards.
    private struct State {
        /// The open file; nil while a failed recovery could not reopen it.
        var file: GDBMFile?
        var isClosed = false
        var mirror: Mirror
        /// A write or sync failed and the recovery has not succeeded since.
        var needsRecovery = false
        /// Files whose records failed batches may have left unlike the mirror, with how many
        /// chunks each may have written: rewritten from the mirror before anything else.
        var restore: [String: Int] = [:]
    }

    /// One queued write: what it does in a batch, and how it is answered when that fails.
    private struct Write: Sendable {
        /// Applies the write; returns its answer, given once the batch is synced.
        let apply: @Sendable (Batch) throws(StorageError) -> @Sendable () -> Void
        /// Answers the write with `error` instead.
        let fail: @Sendable (StorageError) -> Void
    }

    /// Opens (or creates) `files.gdbm` in `directory`, reads the file records (not the
    /// chunks) into the mirror, and starts the writer; on the calling thread.
    ///
    /// - Parameters:
    ///   - observer: told of every sync, failure and recovery, under the store's lock; keep
    ///     it quick.
    ///   - faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened, or `.corrupt` naming it if a
    ///   record cannot be decoded.
    init(directory: DataDirectory, observer: (@Sendable (Event) -> Void)? = nil, faults: GDBMFaults? = nil) throws(StorageError) {
        self.directory = directory
        self.observer = observer
        self.faults = faults
        let path = directory.path(for: Self.fileName)
        self.path = path
        // Reads wait for the lock anyway; two let a second one queue while a chunk is read.
        threads = GDBMThreads(count: 2, closedError: .closed(path))
        let file = try GDBMFile(path: path, faults: faults)
        let mirror: Mirror
        do {
            mirror = try Self.load(from: file, path: path)
        } catch {
            try? file.close()
            throw error
        }
        state = Locked(State(file: file, mirror: mirror))
        startWriter()
    }

    deinit {
        closeNow()
    }

    // MARK: - FileStore: writes

    func begin(_ file: HeldFile, limits: FileLimits) async throws(StorageError) -> FileBeginResult {
        try await written { batch throws(StorageError) in
            if let existing = batch[file.fileID] {
                return FileRules.resumption(of: existing, by: file)
            }
            let held = batch.mirror.heldBytes[file.to] ?? 0
            if let refusal = FileRules.refusal(size: file.size, heldBytes: held, recipient: file.to, limits: limits) {
                return .refused(refusal)
            }
            var fresh = file
            fresh.storedChunks = 0
            fresh.outcome = nil
            try batch.set(file.fileID, fresh)
            return .held(fresh)
        }
    }

    func putChunk(fileID: String, sender: String, index: Int, data: [UInt8]) async throws(StorageError) -> ChunkPutResult {
        try await written { batch throws(StorageError) in
            guard var file = batch[fileID], file.from == sender, file.isHeld else {
                return .unknownFile
            }
            if index < file.storedChunks {
                return .duplicate(file)
            }
            guard index == file.storedChunks, index < file.chunkCount else {
                return .outOfOrder(expected: file.storedChunks)
            }
            // The chunk before the record that counts it.
            try batch.storeChunk(fileID: fileID, index: index, data: data)
            file.storedChunks += 1
            try batch.set(fileID, file)
            return .stored(file)
        }
    }

    func finish(fileID: String, outcome: FileOutcome) async throws(StorageError) -> HeldFile? {
        try await written { batch throws(StorageError) in
            guard var file = batch[fileID], file.isHeld else {
                return nil
            }
            file.outcome = outcome
            try batch.set(fileID, file)
            batch.dropChunks(of: file)
            return file
        }
    }

    func forget(fileID: String, sender: String) async throws(StorageError) -> Bool {
        try await written { batch throws(StorageError) in
            guard let file = batch[fileID], file.from == sender, !file.isHeld else {
                return false
            }
            try batch.set(fileID, nil)
            batch.dropChunks(of: file)
            return true
        }
    }

    func expire(before cutoff: Date) async throws(StorageError) -> [HeldFile] {
        try await written { batch throws(StorageError) in
            let due = batch.mirror.files.values.filter {
                $0.isHeld && FileRules.isExpired(createdAtMilliseconds: $0.createdAtMilliseconds, before: cutoff)
            }
            var expired: [HeldFile] = []
            for var file in due.sorted(by: FileRules.oldestFirst) {
                file.outcome = .expired
                try batch.set(file.fileID, file)
                batch.dropChunks(of: file)
                expired.append(file)
            }
            return expired
        }
    }

    func removeAll(username: String) async throws(StorageError) -> Int {
        try await written { batch throws(StorageError) in
            let theirs = batch.mirror.files.values.filter { $0.from == username || $0.to == username }
            for file in theirs.sorted(by: FileRules.oldestFirst) {
                try batch.set(file.fileID, nil)
                batch.dropChunks(of: file)
            }
            return theirs.count
        }
    }

    // MARK: - FileStore: reads

    func chunk(fileID: String, index: Int) async throws(StorageError) -> [UInt8]? {
        try await read { state throws(StorageError) -> [UInt8]? in
            guard let file = state.mirror[fileID], file.isHeld, (0..<file.storedChunks).contains(index) else {
                return nil
            }
            guard let handle = state.file else {
                throw self.notReopened
            }
            guard let data = try handle.fetch(key: Self.chunkKey(fileID, index: index)) else {
                throw .corrupt(path: self.path, message: "chunk \(index) of file \(fileID) is counted as stored but missing")
            }
            return data
        }
    }

    func file(_ fileID: String) async throws(StorageError) -> HeldFile? {
        try await read { $0.mirror[fileID] }
    }

    func files(to recipient: String) async throws(StorageError) -> [HeldFile] {
        try await read { state in
            state.mirror.files.values.filter { $0.to == recipient && $0.isHeld }.sorted(by: FileRules.oldestFirst)
        }
    }

    func outcomes(for sender: String) async throws(StorageError) -> [HeldFile] {
        try await read { state in
            state.mirror.files.values.filter { $0.from == sender && !$0.isHeld }.sorted(by: FileRules.oldestFirst)
        }
    }

    func usage() async throws(StorageError) -> [String: Int] {
        try await read { $0.mirror.heldBytes }
    }

    /// Lets the writer finish what is queued, then syncs (covering chunks deleted since the
    /// last batch) and closes. Calling it again does nothing.
    func close() async {
        queue.close()
        // Waiting for the writer blocks: on a thread of the store's own. Fails only if an
        // earlier close has shut the threads down, and that one closed the file.
        _ = try? await threads.run { self.closeNow() }
        await threads.shutDown()
    }

    // MARK: - Calls

    /// Hands a write to the writer and waits for its answer, without a thread blocked.
    ///
    /// Queued before the first suspension (`withCheckedContinuation` runs its body at once),
    /// so writes started in order are applied in order.
    private func written<Value: Sendable>(
        _ body: @escaping @Sendable (Batch) throws(StorageError) -> Value
    ) async throws(StorageError) -> Value {
        let path = self.path
        let queue = self.queue
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, StorageError>, Never>) in
            let write = Write(
                apply: { batch throws(StorageError) in
                    let value = try body(batch)
                    return { continuation.resume(returning: .success(value)) }
                },
                fail: { continuation.resume(returning: .failure($0)) })
            if !queue.enqueue(write) {
                continuation.resume(returning: .failure(.closed(path)))
            }
        }
        return try result.get()
    }

    /// Runs `body` under the lock on one of the store's threads.
    private func read<Value: Sendable>(_ body: @escaping @Sendable (State) throws(StorageError) -> Value) async throws(StorageError) -> Value {
        try await threads.run { () throws(StorageError) -> Value in
            try self.state.withLock { state throws(StorageError) -> Value in
                guard !state.isClosed else {
                    throw .closed(self.path)
                }
                return try body(state)
            }
        }
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
                // Every answered write was synced before it was answered; this covers the
                // chunk deletions since, which nobody waits for.
                try? file.sync()
            }
            try? state.file?.close()
            state.file = nil
            state.isClosed = true
            state.mirror = Mirror()
        }
    }

    // MARK: - The writer

    private func startWriter() {
        let path = self.path
        queue.startWriter(
            named: "file-writer", for: self, write: { store, writes in store.write(writes) },
            orphaned: { writes in writes.forEach { $0.fail(.closed(path)) } })
    }

    /// Applies `writes` as one batch and syncs it under the lock, then answers every write
    /// (outside the lock, so readers do not wait while callers are resumed).
    private func write(_ writes: [Write]) {
        let answers = state.withLock { state in apply(writes, to: &state) }
        for answer in answers {
            answer()
        }
    }

    /// What `write` does under the lock; returns the answers to give.
    private func apply(_ writes: [Write], to state: inout State) -> [@Sendable () -> Void] {
        func failAll(_ error: StorageError) -> [@Sendable () -> Void] {
            writes.map { write in { write.fail(error) } }
        }
        guard !state.isClosed else {
            return failAll(.closed(path))
        }
        if state.needsRecovery {
            do throws(StorageError) {
                try recover(&state)
            } catch {
                return failAll(error)
            }
        }
        guard let file = state.file else {
            return failAll(notReopened)
        }

        let batch = Batch(file: file, mirror: state.mirror)
        // The batch's copy is now the only one: changing it copies nothing.
        state.mirror = Mirror()
        var answers: [@Sendable () -> Void] = []
        answers.reserveCapacity(writes.count)
        var failure: StorageError?
        do throws(StorageError) {
            for write in writes {
                answers.append(try write.apply(batch))
            }
            try batch.writeDirectory()
            if batch.wrote {
                observer?(.syncing(operations: writes.count))
                try file.sync()
                observer?(.synced(operations: writes.count))
            }
        } catch {
            failure = error
        }

        guard let failure else {
            state.mirror = batch.mirror
            do throws(StorageError) {
                try batch.deleteDroppedChunks()
            } catch {
                // The answers stand (the batch is synced); the chunks left are deleted again
                // when their records go. GDBM refuses the handle now: reopen before the next.
                observer?(.failed(error))
                state.needsRecovery = true
                try? recover(&state)
            }
            return answers
        }
        // Not done, whatever reached the file: back to the mirror before the batch, and its
        // records listed to be rewritten from it.
        state.mirror = batch.rolledBack()
        state.restore.merge(batch.touched) { max($0, $1) }
        state.needsRecovery = true
        observer?(.failed(failure))
        // At once, so chunk reads work again without waiting for the next write.
        try? recover(&state)
        return failAll(failure)
    }

    /// While a failed recovery could not reopen the file.
    private var notReopened: StorageError {
        .unavailable("\(path) could not be reopened after a failed write; retrying with the next write")
    }

    /// Reopens the file, rewrites the records of failed batches (and their directory shards)
    /// from the mirror, deletes the chunks it does not count, and syncs. Throws (and leaves
    /// `needsRecovery` set) if any step fails; the file is then left open for reads if it
    /// could be reopened.
    private func recover(_ state: inout State) throws(StorageError) {
        try? state.file?.close()
        state.file = nil
        do throws(StorageError) {
            let file = try GDBMFile(path: path, faults: faults)
            state.file = file
            if !state.restore.isEmpty {
                do throws(StorageError) {
                    try rewrite(state.restore, from: state.mirror, to: file)
                    try file.sync()
                } catch {
                    // GDBM refuses every call on this handle now; one more for reads.
                    try? file.close()
                    state.file = try? GDBMFile(path: path, faults: faults)
                    throw error
                }
                state.restore.removeAll()
            }
        } catch {
            observer?(.recoveryFailed(error))
            throw error
        }
        state.needsRecovery = false
        observer?(.recovered)
    }

    /// Makes the records of `files` (with their chunk counts) and their directory shards in
    /// `file` what `mirror` says.
    private func rewrite(_ files: [String: Int], from mirror: Mirror, to file: GDBMFile) throws(StorageError) {
        for (fileID, chunkCount) in files.sorted(by: { $0.key < $1.key }) {
            if let record = mirror[fileID] {
                try file.store(key: Self.recordKey(fileID), value: Self.encodeRecord(record), replace: true)
            } else {
                try file.delete(key: Self.recordKey(fileID))
            }
            try Self.deleteUnstoredChunks(of: fileID, chunkCount: chunkCount, mirror: mirror, file: file)
        }
        for shard in Set(files.keys.map(Self.shard(of:))).sorted() {
            try Self.writeShard(shard, of: mirror, to: file)
        }
    }
}
