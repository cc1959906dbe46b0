import Foundation
import Shared

/// Where held files live, whatever the backend: GDBM or PostgreSQL in production (picked
/// through `StorageBackend`), a dictionary in unit tests (`InMemoryFileStore`).
///
/// Follows `FileRules`: the caps are decided inside the store's own critical section (so
/// two uploads to one recipient cannot both take the last room), chunks are stored in
/// order, and every write that is answered has been made durable first: a chunk answered
/// "stored" survives a crash. Usernames are the normalised form.
///
/// Order: a write takes its place when the call starts, before its first suspension. So an
/// uploader's chunks put one after another from one thread (each in a task started with
/// `Task.immediate`, as a session does) are applied in the order they were sent without
/// waiting for each other's answers, and a store may make many of them durable at once.
///
/// Implementations run their blocking work on threads of their own, never on the
/// caller's, and are safe to call from several tasks at once (and, for PostgreSQL, from
/// several servers).
protocol FileStore: Sendable {
    /// Starts holding `file` (whose `storedChunks` is 0 and `outcome` nil) for its
    /// recipient, durably, unless `FileRules.refusal` refuses it with what `file.to`
    /// already holds. The same id again, from the same sender to the same recipient with
    /// the same size and chunk count, is the same upload resumed: answered `.held` with
    /// the stored record (however many chunks it has), whatever the caps say now. An id
    /// used for anything else is refused `.conflict`; so is an id whose file is done with.
    func begin(_ file: HeldFile, limits: FileLimits) async throws(StorageError) -> FileBeginResult

    /// Stores chunk `index` of `fileID`, sent by `sender`, durably: only the next one
    /// (`index == storedChunks`); one already stored is `.duplicate`. `data` is the chunk
    /// text, at most `FileRules.maximumChunkTextBytes` (the caller checks).
    func putChunk(fileID: String, sender: String, index: Int, data: [UInt8]) async throws(StorageError) -> ChunkPutResult

    /// Chunk `index` of `fileID`; nil if it is not stored (or the file is done with).
    func chunk(fileID: String, index: Int) async throws(StorageError) -> [UInt8]?

    /// The record of `fileID`, held or done with; nil if there is none.
    func file(_ fileID: String) async throws(StorageError) -> HeldFile?

    /// Files held for `recipient`, oldest first.
    func files(to recipient: String) async throws(StorageError) -> [HeldFile]

    /// Files of `sender`'s that are done with and whose outcome `sender` has not yet
    /// acknowledged, oldest first.
    func outcomes(for sender: String) async throws(StorageError) -> [HeldFile]

    /// Ends a held file with `outcome`: deletes its chunks and keeps the record, with the
    /// outcome, for its sender, durably. Returns the record as it now is; nil if there was
    /// no held file by that id (unknown, or done with already: only the first call wins).
    func finish(fileID: String, outcome: FileOutcome) async throws(StorageError) -> HeldFile?

    /// Deletes the record of a file that is done with, once `sender` has seen its outcome.
    /// False if there was no such record of theirs (or the file is still held).
    @discardableResult
    func forget(fileID: String, sender: String) async throws(StorageError) -> Bool

    /// Ends with `.expired` every held file created before `cutoff`
    /// (`FileRules.isExpired`) and returns them as they now are.
    func expire(before cutoff: Date) async throws(StorageError) -> [HeldFile]

    /// Deletes every file, held or done with, to or from `username` (whose account is being
    /// deleted), and returns how many there were.
    @discardableResult
    func removeAll(username: String) async throws(StorageError) -> Int

    /// Bytes held per recipient (declared sizes of held files), for the operator.
    func usage() async throws(StorageError) -> [String: Int]

    /// Closes the store; later calls throw `StorageError.closed` or `.unavailable`.
    /// Calling it again does nothing.
    func close() async
}
