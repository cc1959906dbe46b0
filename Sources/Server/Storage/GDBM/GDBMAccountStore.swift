import Foundation
import Shared

/// The GDBM `AccountStore`: one file, `accounts.gdbm`, in the data directory.
///
/// Key: the username's UTF-8 bytes. Value: the `Account` as JSON (sorted keys, ISO 8601
/// dates), so records can be inspected with `gdbm_dump` and extended compatibly.
/// Every write is followed by `gdbm_sync` before the call returns, so an account the
/// caller has confirmed to a user survives a crash or power loss.
///
/// GDBM handles are not thread-safe: every call on the file runs under one lock, on the
/// store's own thread (`GDBMThreads`), so no caller's thread waits for the disk.
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

    /// One thread: the calls run one at a time under the lock anyway.
    private let threads: GDBMThreads

    /// Opens (or creates) `accounts.gdbm` in `directory`, on the calling thread.
    ///
    /// - Parameter faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened.
    init(directory: DataDirectory, faults: GDBMFaults? = nil) throws(StorageError) {
        self.directory = directory
        self.faults = faults
        let path = directory.path(for: Self.fileName)
        self.path = path
        file = Locked((try GDBMFile(path: path, faults: faults), false))
        threads = GDBMThreads(count: 1, closedError: .closed(path))
    }

    deinit {
        closeNow()
    }

    func create(_ account: Account) async throws {
        let value = try encode(account)
        let key = Self.key(account.username)
        let path = self.path
        let faults = self.faults
        let created = try await threads.run { () throws(StorageError) -> Bool in
            try self.withFile { file throws(StorageError) in
                guard try file.store(key: key, value: value, replace: false) else {
                    return false
                }
                do throws(StorageError) {
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
                return true
            }
        }
        guard created else {
            throw AccountStoreError.usernameTaken(account.username)
        }
    }

    func find(username: String) async throws -> Account? {
        let value = try await threads.run { () throws(StorageError) in
            try self.withFile { file throws(StorageError) in try file.fetch(key: Self.key(username)) }
        }
        return try value.map { value throws(StorageError) in try decode(value, username: username) }
    }

    func update(_ account: Account) async throws {
        let value = try encode(account)
        let key = Self.key(account.username)
        let found = try await threads.run { () throws(StorageError) -> Bool in
            try self.withFile { file throws(StorageError) in
                // Checked under the same lock as the store, so a concurrent caller cannot
                // slip in between.
                guard try file.fetch(key: key) != nil else {
                    return false
                }
                try file.store(key: key, value: value, replace: true)
                try file.sync()
                return true
            }
        }
        guard found else {
            throw AccountStoreError.notFound(account.username)
        }
    }

    func close() async {
        // Fails only if an earlier close has shut the thread down, and that one closed the file.
        _ = try? await threads.run { self.closeNow() }
        await threads.shutDown()
    }

    /// `close()` on the calling thread.
    private func closeNow() {
        file.withLock { state in
            // Every write was synced before it returned, so a failing close loses
            // nothing that was acknowledged; the handle is released either way.
            try? state.file?.close()
            state.file = nil
            state.isClosed = true
        }
    }

    /// Runs `body` with the open file under the lock, reopening it first if an earlier
    /// call failed; if `body` fails, closes the handle so the next call starts on a fresh
    /// one (GDBM refuses every call after a failed write).
    private func withFile<Result: Sendable>(_ body: (GDBMFile) throws(StorageError) -> Result) throws(StorageError) -> Result {
        try file.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw StorageError.closed(path)
            }
            let open: GDBMFile
            if let file = state.file {
                open = file
            } else {
                open = try GDBMFile(path: path, faults: faults)
                state.file = open
            }
            do throws(StorageError) {
                return try body(open)
            } catch {
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
