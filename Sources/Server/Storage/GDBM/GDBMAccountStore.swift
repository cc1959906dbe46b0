import Foundation
import Shared

/// The GDBM `AccountStore`: one file, `accounts.gdbm`, in the data directory.
///
/// Key: the username's UTF-8 bytes. Value: the `Account` as JSON (sorted keys, ISO 8601
/// dates), so records can be inspected with `gdbm_dump` and extended compatibly.
/// Every write is followed by `gdbm_sync` before the call returns, so an account the
/// caller has confirmed to a user survives a crash or power loss. The calls run one at a
/// time on the file's own thread (`GDBMRecordFile`), which reopens the file after a failure.
///
/// A `create` whose sync failed also deletes its record again (best effort) before
/// throwing, so a user told "registration failed" can register the name once the disk
/// works; an `update` whose sync failed may leave the old or the new record, both valid for
/// the same password.
final class GDBMAccountStore: AccountStore {
    /// Name of the accounts file inside the data directory.
    static let fileName = "accounts.gdbm"

    /// Path of the accounts file.
    var path: String { records.path }

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let records: GDBMRecordFile

    /// Opens (or creates) `accounts.gdbm` in `directory`, on the calling thread.
    ///
    /// - Parameter faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened.
    init(directory: DataDirectory, faults: GDBMFaults? = nil) throws(StorageError) {
        self.directory = directory
        records = try GDBMRecordFile(path: directory.path(for: Self.fileName), faults: faults)
    }

    func create(_ account: Account) async throws {
        let value = try Self.encode(account)
        let key = Self.key(account.username)
        let records = self.records
        let created = try await records.run { file throws(StorageError) -> Bool in
            guard try file.store(key: key, value: value, replace: false) else {
                return false
            }
            do throws(StorageError) {
                try file.sync()
            } catch {
                // Of unknown durability: take it back on a fresh handle, so the name is
                // free when the user tries again. If that fails too, the record may stay.
                try? file.close()
                if let fresh = try? records.openFresh() {
                    _ = try? fresh.delete(key: key)
                    try? fresh.sync()
                    try? fresh.close()
                }
                throw error
            }
            return true
        }
        guard created else {
            throw AccountStoreError.usernameTaken(account.username)
        }
    }

    func find(username: String) async throws -> Account? {
        let path = self.path
        let value = try await records.run { file throws(StorageError) in try file.fetch(key: Self.key(username)) }
        return try value.map { value throws(StorageError) in try Self.decode(value, username: username, path: path) }
    }

    func update(_ account: Account) async throws {
        let value = try Self.encode(account)
        let key = Self.key(account.username)
        let found = try await records.run { file throws(StorageError) -> Bool in
            // Checked under the same lock as the store, so a concurrent caller cannot slip
            // in between.
            guard try file.fetch(key: key) != nil else {
                return false
            }
            try file.store(key: key, value: value, replace: true)
            try file.sync()
            return true
        }
        guard found else {
            throw AccountStoreError.notFound(account.username)
        }
    }

    /// Read, change and write under the file's lock, on its one thread: nothing else
    /// touches the file in between.
    func modify(username: String, _ change: @escaping @Sendable (inout Account) throws -> Void) async throws -> Account? {
        let key = Self.key(username)
        let path = self.path
        let outcome = try await records.run { file throws(StorageError) -> Result<Account, any Error>? in
            guard let value = try file.fetch(key: key) else {
                return nil
            }
            var account = try Self.decode(value, username: username, path: path)
            do {
                try change(&account)
            } catch {
                return .failure(error)
            }
            try file.store(key: key, value: try Self.encode(account), replace: true)
            try file.sync()
            return .success(account)
        }
        return try outcome?.get()
    }

    func delete(username: String) async throws -> Bool {
        let key = Self.key(username)
        return try await records.run { file throws(StorageError) -> Bool in
            guard try file.delete(key: key) else {
                return false
            }
            try file.sync()
            return true
        }
    }

    func all() async throws -> [Account] {
        let path = self.path
        let accounts = try await records.run { file throws(StorageError) -> [Account] in
            let keys: [[UInt8]]
            do {
                keys = try file.keys()
            } catch let error as StorageError {
                throw error
            } catch {
                throw .io(path: path, message: "iterate keys: \(error)")
            }
            var accounts: [Account] = []
            accounts.reserveCapacity(keys.count)
            for key in keys {
                guard let value = try file.fetch(key: key) else { continue }
                accounts.append(try Self.decode(value, username: String(decoding: key, as: UTF8.self), path: path))
            }
            return accounts
        }
        return accounts.sorted { $0.username < $1.username }
    }

    func close() async {
        await records.close()
    }

    // MARK: - Encoding

    private static func key(_ username: String) -> [UInt8] {
        Array(username.utf8)
    }

    private static func encode(_ account: Account) throws(StorageError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        do {
            return Array(try encoder.encode(account))
        } catch {
            throw .io(path: GDBMAccountStore.fileName, message: "account record for \(account.username) cannot be encoded: \(error)")
        }
    }

    private static func decode(_ value: [UInt8], username: String, path: String) throws(StorageError) -> Account {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Account.self, from: Data(value))
        } catch {
            throw .corrupt(path: path, message: "account record for \(username) cannot be decoded: \(error)")
        }
    }
}
