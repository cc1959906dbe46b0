/// A `PreKeyStore` in memory whose whole state exports to bytes and imports back.
///
/// Not Sendable: one `LocalDevice` uses it from one task at a time.
public final class InMemoryPreKeyStore: PreKeyStore {
    private var records: [UInt32: [UInt8]] = [:]
    /// Counts the changes made to this store, so that a caller persisting it can tell
    /// whether it needs writing again without exporting it.
    public private(set) var changeCount = 0
    public var nextPreKeyID: UInt32 = 1 {
        didSet { changeCount += 1 }
    }

    public init() {}

    public func preKeyRecord(id: UInt32) -> [UInt8]? {
        records[id]
    }

    public func storePreKeyRecord(_ record: [UInt8], id: UInt32) {
        changeCount += 1
        records[id] = record
    }

    public func containsPreKey(id: UInt32) -> Bool {
        records[id] != nil
    }

    public func removePreKey(id: UInt32) {
        changeCount += 1
        records[id] = nil
    }

    public func preKeyIDs() -> [UInt32] {
        records.keys.sorted()
    }

    /// The whole state: the next id and every record (private keys included).
    public func exportState() -> [UInt8] {
        var writer = StoreArchive.preKeys.writer()
        writer.append(nextPreKeyID)
        writer.append(UInt32(records.count))
        for id in records.keys.sorted() {
            writer.append(id)
            writer.appendPrefixed(records[id]!)
        }
        return writer.bytes
    }

    /// A store holding exactly what `exportState()` wrote.
    public init(importing bytes: [UInt8]) throws(EncryptionError) {
        var reader = try StoreArchive.preKeys.reader(bytes)
        nextPreKeyID = try reader.readUInt32()
        let count = try reader.readUInt32()
        for _ in 0..<count {
            let id = try reader.readUInt32()
            records[id] = try reader.readPrefixed()
        }
        try reader.expectEnd()
    }
}
