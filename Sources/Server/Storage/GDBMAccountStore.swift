import Foundation
import Synchronization

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
/// After a failed write (a full disk, say) GDBM refuses every further call on the
/// handle, so the store keeps throwing `StorageError.io` until it is reopened.
final class GDBMAccountStore: AccountStore {
    /// Name of the accounts file inside the data directory.
    static let fileName = "accounts.gdbm"

    /// Path of the accounts file.
    let path: String

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let file: Mutex<GDBMFile>

    /// Opens (or creates) `accounts.gdbm` in `directory`.
    ///
    /// - Throws: `StorageError` if the file cannot be opened.
    init(directory: DataDirectory) throws(StorageError) {
        self.directory = directory
        path = directory.path(for: Self.fileName)
        file = Mutex(try GDBMFile(path: path))
    }

    func create(_ account: Account) throws {
        let value = try encode(account)
        try file.withLock { file throws in
            guard try file.store(key: Self.key(account.username), value: value, replace: false) else {
                throw AccountStoreError.usernameTaken(account.username)
            }
            try file.sync()
        }
    }

    func find(username: String) throws -> Account? {
        let value = try file.withLock { file throws(StorageError) in
            try file.fetch(key: Self.key(username))
        }
        return try value.map { try decode($0, username: username) }
    }

    func update(_ account: Account) throws {
        let value = try encode(account)
        try file.withLock { file throws in
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
        file.withLock { file in
            // Every write was synced before it returned, so a failing close loses
            // nothing that was acknowledged; the handle is released either way.
            try? file.close()
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
