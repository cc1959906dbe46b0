import Shared

/// A `KeyStore` in a dictionary, for unit tests: the same semantics as the durable stores
/// (the rules are `KeyRecord`'s; one lock makes every take atomic) without a disk.
final class InMemoryKeyStore: KeyStore {
    /// The records by username; nil once closed.
    private let records = Locked<[String: KeyRecord]?>([:])

    /// Creates an empty store.
    init() {}

    func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
        try withRecords { records throws in
            let record = try KeyRecord.publishing(keys, over: records[username])
            records[username] = record
            return record.preKeys.count
        }
    }

    func takeBundle(username: String) async throws -> KeyBundle? {
        try withRecords { records in records[username]?.take() }
    }

    func identityKey(username: String) async throws -> [UInt8]? {
        try withRecords { $0[username]?.identityKey }
    }

    func preKeyCount(username: String) async throws -> Int? {
        try withRecords { $0[username]?.preKeys.count }
    }

    func deleteKeys(username: String) async throws -> Bool {
        try withRecords { $0.removeValue(forKey: username) != nil }
    }

    func close() async {
        records.withLock { $0 = nil }
    }

    private func withRecords<Value>(_ body: (inout [String: KeyRecord]) throws -> Value) throws -> Value {
        try records.withLock { records throws in
            guard records != nil else {
                throw StorageError.closed("the in-memory key store")
            }
            return try body(&records!)
        }
    }
}
