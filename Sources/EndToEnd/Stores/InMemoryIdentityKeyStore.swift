/// An `IdentityKeyStore` in memory, trusting on first use, whose whole state exports to bytes
/// and imports back (the client keeps those bytes in its own encrypted files).
///
/// Not Sendable: one `LocalDevice` uses it from one task at a time.
public final class InMemoryIdentityKeyStore: IdentityKeyStore {
    private let local: LocalIdentity
    private var trusted: [PeerAddress: IdentityKey] = [:]
    /// Counts the changes made to this store, so that a caller persisting it can tell
    /// whether it needs writing again without exporting it.
    public private(set) var changeCount = 0

    public init(localIdentity: LocalIdentity) {
        local = localIdentity
    }

    public func localIdentity() -> LocalIdentity {
        local
    }

    public func identity(for peer: PeerAddress) -> IdentityKey? {
        trusted[peer]
    }

    public func saveIdentity(_ key: IdentityKey?, for peer: PeerAddress) {
        changeCount += 1
        trusted[peer] = key
    }

    /// The whole state: the local identity (private key included) and every trusted peer key.
    public func exportState() -> [UInt8] {
        var writer = StoreArchive.identity.writer()
        writer.appendPrefixed(local.serialized())
        writer.append(UInt32(trusted.count))
        for peer in trusted.keys.sorted() {
            writer.append(peer)
            writer.appendRaw(trusted[peer]!.bytes)
        }
        return writer.bytes
    }

    /// A store holding exactly what `exportState()` wrote.
    public init(importing bytes: [UInt8]) throws(EncryptionError) {
        var reader = try StoreArchive.identity.reader(bytes)
        local = try LocalIdentity(serialized: reader.readPrefixed())
        let count = try reader.readUInt32()
        for _ in 0..<count {
            let peer = try reader.readPeer()
            trusted[peer] = try IdentityKey(bytes: reader.readRaw(count: PublicKey.length))
        }
        try reader.expectEnd()
    }
}
