/// The four stores a `LocalDevice` reads and writes.
public struct ProtocolStores {
    public var identity: any IdentityKeyStore
    public var preKeys: any PreKeyStore
    public var signedPreKeys: any SignedPreKeyStore
    public var sessions: any SessionStore

    public init(
        identity: any IdentityKeyStore, preKeys: any PreKeyStore,
        signedPreKeys: any SignedPreKeyStore, sessions: any SessionStore
    ) {
        self.identity = identity
        self.preKeys = preKeys
        self.signedPreKeys = signedPreKeys
        self.sessions = sessions
    }
}
