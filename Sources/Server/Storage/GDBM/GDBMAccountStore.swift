import Foundation
import Shared

/// The production `AccountStore`: one GDBM file, `accounts.gdbm`, in the data directory.
///
/// Key: the username's UTF-8 bytes. Value: the `Account` as JSON (sorted keys, ISO 8601
/// dates), so records can be inspected with `gdbm_dump` and extended compatibly.
/// Every write is followed by `gdbm_sync` before the call returns, so an account the
/// caller has confirmed to a user survives a crash or power loss.
///
/// Sendable through a `Mutex` around the `GDBMFile`: GDBM handles are not thread-safe,
/// and the mutex makes every call exclusive. Calls block on disk; make them from a
/// thread pool.
///
/// After a failed write or sync (a full disk, say) GDBM refuses every further call on the
/// handle, so the store closes it and the next call reopens the file: one failed
/// registration must not stop every login until a restart. A `create` whose sync failed
/// also deletes its record again (best effort) before throwing, so a user told
/// "registration failed" can register the name once the disk works; an `update` whose
/// sync failed may leave the old or the new record, both valid for the same password.
final class GDBMAccountStore: AccountStore {
    /// Name of the accounts file inside the data directory.
    static let fileName = "accounts.gdbm"

    /// Path of the accounts file.
    let path: String

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    /// Failures to inject into every file this store opens (tests); nil in production.
    private let faults: GDBMFaults?

    /// The open file; nil after a failed write until the next call reopens it, and after
    /// `close()` (then `isClosed`).
    private let file: Locked<(file: GDBMFile?, isClosed: Bool)>

    /// Opens (or creates) `accounts.gdbm` in `directory`.
    ///
    /// - Parameter faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened.
    init(directory: DataDirectory, faults: GDBMFaults? = nil) throws(StorageError) {
        self.directory = directory
        self.faults = faults
        path = directory.path(for: Self.fileName)
        file = Locked((try GDBMFile(path: path, faults: faults), false))
    }

    func create(_ account: Account) throws {
        let value = try encode(account)
        let key = Self.key(account.username)
        try withFile { file throws in
            guard try file.store(key: key, value: value, replace: false) else {
                throw AccountStoreError.usernameTaken(account.username)
            }
            do {
                try file.sync()
            } catch {
                // Of unknown durability: take it back on a fresh handle, so the name is
                // free when the user tries again. If that fails too, the record may stay.
                try? file.close()
                if let fresh = try? GDBMFile(path: path, faults: faults) {
                    _ = try? fresh.delete(key: key)
                    try? fresh.sync()
                    try? fresh.close()
                }
                throw error
            }
        }
    }

    func find(username: String) throws -> Account? {
        let value = try withFile { file throws in
            try file.fetch(key: Self.key(username))
        }
        return try value.map { try decode($0, username: username) }
    }

    func update(_ account: Account) throws {
        let value = try encode(account)
        try withFile { file throws in
            // Checked under the same lock as the store, so a concurrent caller cannot
            // slip in between.
            guard try file.fetch(key: Self.key(account.username)) != nil else {
                throw AccountStoreError.notFound(account.username)
            }
            try file.store(key: Self.key(account.username), value: value, replace: true)
            try file.sync()
        }
    }

    func close() {
        file.withLock { state in
            // Every write was synced before it returned, so a failing close loses
            // nothing that was acknowledged; the handle is released either way.
            try? state.file?.close()
            state.file = nil
            state.isClosed = true
        }
    }

    /// Runs `body` with the open file under the lock, reopening it first if an earlier
    /// call failed; if `body` fails with a storage error, closes the handle so the next
    /// call starts on a fresh one (GDBM refuses every call after a failed write).
    private func withFile<Result: Sendable>(_ body: (GDBMFile) throws -> Result) throws -> Result {
        try file.withLock { state throws in
            guard !state.isClosed else {
                throw StorageError.closed(path)
            }
            let open = try state.file ?? GDBMFile(path: path, faults: faults)
            state.file = open
            do {
                return try body(open)
            } catch let error as StorageError {
                try? open.close()
                state.file = nil
                throw error
            }
        }
    }

    // MARK: - Encoding

    private static func key(_ username: String) -> [UInt8] {
        Array(username.utf8)
    }

    private func encode(_ account: Account) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(account))
    }

    private func decode(_ value: [UInt8], username: String) throws(StorageError) -> Account {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Account.self, from: Data(value))
        } catch {
            throw .corrupt(path: path, message: "account record for \(username) cannot be decoded: \(error)")
        }
    }
}
