/// Stores for trying a decryption without keeping anything: reads go to the device's real
/// stores, writes stay here and vanish with this value. The identity store trusts one given
/// key for one peer.
///
/// `LocalDevice` uses them to check that a prekey message claiming a new identity key really
/// authenticates under that key before it reports the change: libomemo-c asks for trust
/// before it checks the MAC, so a flipped byte in the (unauthenticated) outer identity key
/// field would otherwise read as "this peer's identity changed".
struct DryRunStores {
    let stores: ProtocolStores

    init(over real: ProtocolStores, trusting key: IdentityKey, for peer: PeerAddress) {
        stores = ProtocolStores(
            identity: TrustingIdentityStore(real: real.identity, peer: peer, key: key),
            preKeys: ReadOnlyPreKeyStore(real: real.preKeys),
            signedPreKeys: ReadOnlySignedPreKeyStore(real: real.signedPreKeys),
            sessions: ScratchSessionStore(real: real.sessions)
        )
    }
}

private final class TrustingIdentityStore: IdentityKeyStore {
    let real: any IdentityKeyStore
    let peer: PeerAddress
    let key: IdentityKey

    init(real: any IdentityKeyStore, peer: PeerAddress, key: IdentityKey) {
        self.real = real
        self.peer = peer
        self.key = key
    }

    func localIdentity() throws -> LocalIdentity { try real.localIdentity() }
    func identity(for peer: PeerAddress) throws -> IdentityKey? { try real.identity(for: peer) }
    func saveIdentity(_ key: IdentityKey?, for peer: PeerAddress) {}

    func isTrusted(_ key: IdentityKey, for peer: PeerAddress) throws -> Bool {
        (peer == self.peer && key == self.key) ? true : try real.isTrusted(key, for: peer)
    }
}

private final class ReadOnlyPreKeyStore: PreKeyStore {
    let real: any PreKeyStore
    private var removed: Set<UInt32> = []

    init(real: any PreKeyStore) {
        self.real = real
    }

    func preKeyRecord(id: UInt32) throws -> [UInt8]? { removed.contains(id) ? nil : try real.preKeyRecord(id: id) }
    func storePreKeyRecord(_ record: [UInt8], id: UInt32) {}
    func containsPreKey(id: UInt32) throws -> Bool { try preKeyRecord(id: id) != nil }
    func removePreKey(id: UInt32) { removed.insert(id) }
    func preKeyIDs() throws -> [UInt32] { try real.preKeyIDs().filter { !removed.contains($0) } }

    var nextPreKeyID: UInt32 {
        get { real.nextPreKeyID }
        set {}
    }
}

private final class ReadOnlySignedPreKeyStore: SignedPreKeyStore {
    let real: any SignedPreKeyStore

    init(real: any SignedPreKeyStore) {
        self.real = real
    }

    func signedPreKeyRecord(id: UInt32) throws -> [UInt8]? { try real.signedPreKeyRecord(id: id) }
    func storeSignedPreKeyRecord(_ record: [UInt8], id: UInt32) {}
    func containsSignedPreKey(id: UInt32) throws -> Bool { try real.containsSignedPreKey(id: id) }
    func removeSignedPreKey(id: UInt32) {}
    func signedPreKeyIDs() throws -> [UInt32] { try real.signedPreKeyIDs() }

    var currentSignedPreKeyID: UInt32? {
        get { real.currentSignedPreKeyID }
        set {}
    }
}

private final class ScratchSessionStore: SessionStore {
    let real: any SessionStore
    /// Records written during the dry run; nil marks one deleted.
    private var written: [PeerAddress: [UInt8]?] = [:]

    init(real: any SessionStore) {
        self.real = real
    }

    func sessionRecord(for peer: PeerAddress) throws -> [UInt8]? {
        if let record = written[peer] { return record }
        return try real.sessionRecord(for: peer)
    }

    func storeSessionRecord(_ record: [UInt8], for peer: PeerAddress) {
        written[peer] = .some(record)
    }

    func containsSession(for peer: PeerAddress) throws -> Bool { try sessionRecord(for: peer) != nil }

    func deleteSession(for peer: PeerAddress) throws -> Bool {
        let existed = try containsSession(for: peer)
        written[peer] = .some(nil)
        return existed
    }

    func deleteAllSessions(named name: String) throws -> Int {
        var count = 0
        for id in try deviceIDs(named: name) where try deleteSession(for: PeerAddress(name: name, deviceID: id)) {
            count += 1
        }
        return count
    }

    func deviceIDs(named name: String) throws -> [Int32] {
        var ids = Set(try real.deviceIDs(named: name))
        for (peer, record) in written where peer.name == name {
            if record == nil { ids.remove(peer.deviceID) } else { ids.insert(peer.deviceID) }
        }
        return ids.sorted()
    }
}
