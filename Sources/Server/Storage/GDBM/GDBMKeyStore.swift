import Shared

/// The GDBM `KeyStore`: one file, `keys.gdbm`, in the data directory; one record per user.
///
/// Key: the username's UTF-8 bytes. Value: the user's `KeyRecord` in a fixed binary layout
/// (see `encode`), a few dozen kilobytes at most. Every call runs on the file's own thread,
/// one at a time (`GDBMRecordFile`), so a take reads, shrinks and rewrites the record with
/// nothing in between: no one-time prekey can be handed out twice. Every write is followed
/// by `gdbm_sync` before the call returns (GDBM_SYNC alone does not sync every store), so
/// a prekey handed out is gone for good, and keys confirmed to a client survive a crash.
final class GDBMKeyStore: KeyStore {
    /// Name of the keys file inside the data directory.
    static let fileName = "keys.gdbm"

    /// Path of the keys file.
    var path: String { records.path }

    /// Held so the directory lock lasts at least as long as the open file.
    private let directory: DataDirectory

    private let records: GDBMRecordFile

    /// Opens (or creates) `keys.gdbm` in `directory`, on the calling thread.
    ///
    /// - Parameter faults: failures to inject into the files this store opens; tests only.
    /// - Throws: `StorageError` if the file cannot be opened.
    init(directory: DataDirectory, faults: GDBMFaults? = nil) throws(StorageError) {
        self.directory = directory
        records = try GDBMRecordFile(path: directory.path(for: Self.fileName), faults: faults)
    }

    func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
        let key = Self.key(username)
        let path = self.path
        let outcome = try await records.run { file throws(StorageError) -> Result<Int, KeyStoreError> in
            let existing = try file.fetch(key: key).map { value throws(StorageError) in
                try Self.decode(value, path: path, username: username)
            }
            let record: KeyRecord
            do throws(KeyStoreError) {
                record = try KeyRecord.publishing(keys, over: existing)
            } catch {
                return .failure(error)
            }
            try file.store(key: key, value: Self.encode(record), replace: true)
            try file.sync()
            return .success(record.preKeys.count)
        }
        return try outcome.get()
    }

    func takeBundle(username: String) async throws -> KeyBundle? {
        let key = Self.key(username)
        let path = self.path
        return try await records.run { file throws(StorageError) -> KeyBundle? in
            guard let value = try file.fetch(key: key) else {
                return nil
            }
            var record = try Self.decode(value, path: path, username: username)
            let bundle = record.take()
            if bundle.preKey != nil {
                // Synced before the bundle leaves: a prekey handed out stays gone after a
                // crash. If the sync fails the caller hands nothing out, and the prekey may
                // survive unused, which is harmless.
                try file.store(key: key, value: Self.encode(record), replace: true)
                try file.sync()
            }
            return bundle
        }
    }

    func identityKey(username: String) async throws -> [UInt8]? {
        try await record(username)?.identityKey
    }

    func preKeyCount(username: String) async throws -> Int? {
        try await record(username)?.preKeys.count
    }

    func deleteKeys(username: String) async throws -> Bool {
        let key = Self.key(username)
        return try await records.run { file throws(StorageError) -> Bool in
            guard try file.delete(key: key) else {
                return false
            }
            try file.sync()
            return true
        }
    }

    func close() async {
        await records.close()
    }

    private func record(_ username: String) async throws(StorageError) -> KeyRecord? {
        let path = self.path
        let key = Self.key(username)
        return try await records.run { file throws(StorageError) -> KeyRecord? in
            try file.fetch(key: key).map { value throws(StorageError) in try Self.decode(value, path: path, username: username) }
        }
    }

    // MARK: - Encoding

    private static func key(_ username: String) -> [UInt8] {
        Array(username.utf8)
    }

    /// The first byte of a record; a new layout gets a new number.
    private static let format: UInt8 = 1

    /// The record's bytes: binary rather than JSON, as the inbox's records are, because a
    /// record of a thousand prekeys is rewritten on every take.
    ///
    ///     u8   format = 1
    ///     u32  registration id                  (integers big-endian)
    ///     [33] identity key
    ///     u32  signed prekey id
    ///     [33] signed prekey
    ///     [64] signed prekey signature
    ///     u32  number of one-time prekeys, then for each, by ascending id:
    ///     u32  id
    ///     [33] public key
    private static func encode(_ record: KeyRecord) -> [UInt8] {
        let keyLength = PublishedKeys.publicKeyLength
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + 4 + keyLength + 4 + keyLength + PublishedKeys.signatureLength + 4
            + record.preKeys.count * (4 + keyLength))
        bytes.append(format)
        append(record.registrationID, to: &bytes)
        bytes += record.identityKey
        append(record.signedPreKey.id, to: &bytes)
        bytes += record.signedPreKey.publicKey
        bytes += record.signedPreKey.signature
        append(record.preKeys.count, to: &bytes)
        for id in record.preKeys.keys.sorted() {
            append(id, to: &bytes)
            bytes += record.preKeys[id]!
        }
        return bytes
    }

    private static func decode(_ bytes: [UInt8], path: String, username: String) throws(StorageError) -> KeyRecord {
        var reader = Reader(bytes: bytes)
        let keyLength = PublishedKeys.publicKeyLength
        guard reader.byte() == format,
            let registrationID = reader.integer(),
            let identityKey = reader.bytes(keyLength),
            let signedID = reader.integer(),
            let signedKey = reader.bytes(keyLength),
            let signature = reader.bytes(PublishedKeys.signatureLength),
            let count = reader.integer()
        else {
            throw .corrupt(path: path, message: "key record for \(username) cannot be decoded")
        }
        var preKeys: [Int: [UInt8]] = [:]
        preKeys.reserveCapacity(count)
        for _ in 0..<count {
            guard let id = reader.integer(), let key = reader.bytes(keyLength) else {
                throw .corrupt(path: path, message: "key record for \(username) is cut short")
            }
            preKeys[id] = key
        }
        guard reader.isAtEnd else {
            throw .corrupt(path: path, message: "key record for \(username) has bytes past its end")
        }
        return KeyRecord(
            registrationID: registrationID, identityKey: identityKey,
            signedPreKey: PublishedSignedPreKey(id: signedID, publicKey: signedKey, signature: signature),
            preKeys: preKeys)
    }

    /// Appends `value` (which the protocol's ranges keep within 32 bits) as four bytes.
    private static func append(_ value: Int, to bytes: inout [UInt8]) {
        let value = UInt32(truncatingIfNeeded: value)
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// Reads a record front to back; nil once it runs out.
    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var isAtEnd: Bool { index == bytes.count }

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func integer() -> Int? {
            guard let raw = self.bytes(4) else { return nil }
            return Int(raw[0]) << 24 | Int(raw[1]) << 16 | Int(raw[2]) << 8 | Int(raw[3])
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard bytes.count - index >= count else { return nil }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }
    }
}
