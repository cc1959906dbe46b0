/// One device's end-to-end encryption with the Signal protocol (libomemo-c, session version
/// 3): its keys, its sessions with peers, and the trust it places in their identity keys.
///
/// All state lives in the stores; this object holds none of its own, so a device rebuilt
/// from the same stores (after an export and import) carries on where the old one stopped.
///
/// Not Sendable: libomemo-c's context and the stores it calls back into are used without
/// locks, so one task (or actor) owns a device at a time.
public final class LocalDevice {
    /// The stores this device reads and writes.
    public let stores: ProtocolStores
    let engine: SessionEngine

    /// A device over stores whose identity store already holds its `LocalIdentity`. A new
    /// device then calls `generateKeys(preKeyCount:now:)` once.
    public init(stores: ProtocolStores) throws(EncryptionError) {
        self.stores = stores
        engine = try SessionEngine(stores: stores, context: SignalContext())
    }

    /// This device's identity key, as peers see it.
    public func identityKey() throws(EncryptionError) -> IdentityKey {
        try storeCall { try stores.identity.localIdentity().identityKey }
    }

    /// This device's registration id.
    public func registrationID() throws(EncryptionError) -> UInt32 {
        try storeCall { try stores.identity.localIdentity().registrationID }
    }

    // MARK: Sessions

    /// Starts a session with `peer` from their bundle (X3DH as the initiator), replacing any
    /// session with them; the next message to them is a prekey message.
    ///
    /// - Throws: `.invalidSignature` if the signed prekey is not signed by the bundle's
    ///   identity key; `.untrustedIdentity` if the peer's identity key is not the one trusted
    ///   for them; `.invalidKey` for a key libomemo-c cannot use.
    public func startSession(with peer: PeerAddress, bundle: PreKeyBundle) throws(EncryptionError) {
        try engine.startSession(with: peer, bundle: bundle)
    }

    /// Whether a session with `peer` exists.
    public func hasSession(with peer: PeerAddress) throws(EncryptionError) -> Bool {
        try engine.hasSession(with: peer)
    }

    /// Ends the session with `peer`; their identity key stays trusted.
    public func deleteSession(with peer: PeerAddress) throws(EncryptionError) {
        _ = try storeCall { try stores.sessions.deleteSession(for: peer) }
    }

    /// Encrypts `plaintext` for `peer`. libomemo-c does not pad: the body's length reveals
    /// the plaintext's to the next 16 bytes, so pad first if that matters.
    ///
    /// - Throws: `.noSession` if no session with `peer` exists yet.
    public func encrypt(_ plaintext: [UInt8], for peer: PeerAddress) throws(EncryptionError) -> EncryptedMessage {
        try engine.encrypt(plaintext, for: peer)
    }

    /// Decrypts a message from `peer`. A refused message changes nothing: the next good one
    /// still decrypts.
    ///
    /// - Throws: `.duplicateMessage`, `.invalidMessage`, `.legacyMessage` (drop the message);
    ///   `.untrustedIdentity` (ask the user, then `trust(_:for:)` and retry), raised only for
    ///   a message that does authenticate under the new key; `.noSession`; `.invalidKeyID`
    ///   (the sender used a prekey this device no longer has).
    public func decrypt(_ message: EncryptedMessage, from peer: PeerAddress) throws(EncryptionError) -> [UInt8] {
        guard message.kind == .preKey else { return try engine.decrypt(message, from: peer) }
        // libomemo-c records the sender's identity (trust on first use) before it has
        // authenticated the message inside; a forged first message must not leave it there.
        let trustedBefore = try identity(of: peer)
        do {
            return try engine.decrypt(message, from: peer)
        } catch {
            if try identity(of: peer) != trustedBefore {
                try storeCall { try stores.identity.saveIdentity(trustedBefore, for: peer) }
            }
            if case .untrustedIdentity(_, let claimed) = error, try !authenticates(message, from: peer, as: claimed) {
                throw .invalidMessage
            }
            throw error
        }
    }

    /// Whether a prekey message refused for its identity key would decrypt if that key were
    /// trusted: only then is it really from the holder of that key. The trial runs over
    /// `DryRunStores`, so it changes nothing.
    private func authenticates(
        _ message: EncryptedMessage, from peer: PeerAddress, as claimed: IdentityKey
    ) throws(EncryptionError) -> Bool {
        let trial = try SessionEngine(
            stores: DryRunStores(over: stores, trusting: claimed, for: peer).stores, context: engine.context
        )
        do {
            _ = try trial.decrypt(message, from: peer)
            return true
        } catch .storeFailed(let reason) {
            throw .storeFailed(reason)
        } catch {
            return false
        }
    }

    // MARK: Trust

    /// The identity key trusted for `peer`, if any.
    public func identity(of peer: PeerAddress) throws(EncryptionError) -> IdentityKey? {
        try storeCall { try stores.identity.identity(for: peer) }
    }

    /// Trusts `key` for `peer` from now on: the user's answer to `.untrustedIdentity`. Retry
    /// the refused operation afterwards.
    public func trust(_ key: IdentityKey, for peer: PeerAddress) throws(EncryptionError) {
        try storeCall { try stores.identity.saveIdentity(key, for: peer) }
    }

    /// The safety number of this device (named `localIdentifier`, the user's own name) and
    /// `peer`, over the identity key trusted for them; nil if none is known yet.
    public func safetyNumber(localIdentifier: String, peer: PeerAddress) throws(EncryptionError) -> SafetyNumber? {
        guard let remoteKey = try identity(of: peer) else { return nil }
        return try SafetyNumber(
            localIdentifier: localIdentifier, localKey: identityKey(),
            remoteIdentifier: peer.name, remoteKey: remoteKey
        )
    }

    /// Runs a store call, reporting what it throws as `.storeFailed`.
    func storeCall<Value>(_ body: () throws -> Value) throws(EncryptionError) -> Value {
        do {
            return try body()
        } catch let error as EncryptionError {
            throw error
        } catch {
            throw .storeFailed(String(describing: error))
        }
    }
}
