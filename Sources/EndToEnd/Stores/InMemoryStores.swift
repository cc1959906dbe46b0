/// The four in-memory stores of one device, exported and imported as one byte string.
public struct InMemoryStores {
    public let identity: InMemoryIdentityKeyStore
    public let preKeys: InMemoryPreKeyStore
    public let signedPreKeys: InMemorySignedPreKeyStore
    public let sessions: InMemorySessionStore

    /// Empty stores for a device with this identity.
    public init(identity: LocalIdentity) {
        self.identity = InMemoryIdentityKeyStore(localIdentity: identity)
        preKeys = InMemoryPreKeyStore()
        signedPreKeys = InMemorySignedPreKeyStore()
        sessions = InMemorySessionStore()
    }

    /// Stores read back one by one (each from its own `exportState()`), for a client that
    /// keeps them apart so that a message rewrites only the session store.
    public init(
        identity: InMemoryIdentityKeyStore, preKeys: InMemoryPreKeyStore,
        signedPreKeys: InMemorySignedPreKeyStore, sessions: InMemorySessionStore
    ) {
        self.identity = identity
        self.preKeys = preKeys
        self.signedPreKeys = signedPreKeys
        self.sessions = sessions
    }

    /// The stores as a `LocalDevice` takes them.
    public var protocolStores: ProtocolStores {
        ProtocolStores(identity: identity, preKeys: preKeys, signedPreKeys: signedPreKeys, sessions: sessions)
    }

    /// Every store's `exportState()`, each behind a 32-bit length, in the order identity,
    /// prekeys, signed prekeys, sessions. Holds every private key: encrypt it at rest.
    public func exportState() -> [UInt8] {
        var writer = ByteWriter()
        writer.appendPrefixed(identity.exportState())
        writer.appendPrefixed(preKeys.exportState())
        writer.appendPrefixed(signedPreKeys.exportState())
        writer.appendPrefixed(sessions.exportState())
        return writer.bytes
    }

    /// Stores holding exactly what `exportState()` wrote.
    public init(importing bytes: [UInt8]) throws(EncryptionError) {
        var reader = ByteReader(bytes, what: "exported stores")
        identity = try InMemoryIdentityKeyStore(importing: reader.readPrefixed())
        preKeys = try InMemoryPreKeyStore(importing: reader.readPrefixed())
        signedPreKeys = try InMemorySignedPreKeyStore(importing: reader.readPrefixed())
        sessions = try InMemorySessionStore(importing: reader.readPrefixed())
        try reader.expectEnd()
    }
}
