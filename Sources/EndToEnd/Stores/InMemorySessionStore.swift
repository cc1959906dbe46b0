/// A `SessionStore` in memory whose whole state exports to bytes and imports back.
///
/// Not Sendable: one `LocalDevice` uses it from one task at a time.
public final class InMemorySessionStore: SessionStore {
    private var records: [PeerAddress: [UInt8]] = [:]
    /// Counts the changes made to this store, so that a caller persisting it can tell
    /// whether it needs writing again without exporting it.
    public private(set) var changeCount = 0

    public init() {}

    public func sessionRecord(for peer: PeerAddress) -> [UInt8]? {
        records[peer]
    }

    public func storeSessionRecord(_ record: [UInt8], for peer: PeerAddress) {
        changeCount += 1
        records[peer] = record
    }

    public func containsSession(for peer: PeerAddress) -> Bool {
        records[peer] != nil
    }

    public func deleteSession(for peer: PeerAddress) -> Bool {
        changeCount += 1
        return records.removeValue(forKey: peer) != nil
    }

    public func deleteAllSessions(named name: String) -> Int {
        changeCount += 1
        let peers = records.keys.filter { $0.name == name }
        for peer in peers {
            records[peer] = nil
        }
        return peers.count
    }

    public func deviceIDs(named name: String) -> [Int32] {
        records.keys.filter { $0.name == name }.map(\.deviceID).sorted()
    }

    /// The whole state: every session record.
    public func exportState() -> [UInt8] {
        var writer = StoreArchive.sessions.writer()
        writer.append(UInt32(records.count))
        for peer in records.keys.sorted() {
            writer.append(peer)
            writer.appendPrefixed(records[peer]!)
        }
        return writer.bytes
    }

    /// A store holding exactly what `exportState()` wrote.
    public init(importing bytes: [UInt8]) throws(EncryptionError) {
        var reader = try StoreArchive.sessions.reader(bytes)
        let count = try reader.readUInt32()
        for _ in 0..<count {
            let peer = try reader.readPeer()
            records[peer] = try reader.readPrefixed()
        }
        try reader.expectEnd()
    }
}
