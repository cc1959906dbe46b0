internal import COmemo

/// libomemo-c's session operations over one device's stores: X3DH from a bundle
/// (`session_builder`), and Double Ratchet encryption and decryption (`session_cipher`).
///
/// Every session is created and kept at version 3, the Signal protocol as libsignal-protocol-c
/// speaks it (not version 4, OMEMO 0.8's variant with other KDF labels and protobufs). A
/// builder or cipher keeps a pointer to the address it was made with, so both live only
/// inside `withAddress`.
final class SessionEngine {
    /// libomemo-c's session version for the Signal protocol; see the type's comment.
    static let sessionVersion: UInt32 = 3

    let context: SignalContext
    private let bridge: StoreBridge
    private let storeContext: OpaquePointer

    init(stores: ProtocolStores, context: SignalContext) throws(EncryptionError) {
        self.context = context
        bridge = StoreBridge(stores: stores)
        var created: OpaquePointer?
        try check(signal_protocol_store_context_create(&created, context.pointer), "signal_protocol_store_context_create")
        guard let created else {
            throw .library(operation: "signal_protocol_store_context_create", code: Int32(SG_ERR_NOMEM))
        }
        storeContext = created
        // The tables are copied into the store context; `bridge` outlives it (released after
        // `deinit` destroys the context), so the unretained pointer stays valid.
        let userData = Unmanaged.passUnretained(bridge).toOpaque()
        var sessions = bridge.sessionStore(userData: userData)
        var preKeys = bridge.preKeyStore(userData: userData)
        var signedPreKeys = bridge.signedPreKeyStore(userData: userData)
        var identity = bridge.identityKeyStore(userData: userData)
        signal_protocol_store_context_set_session_store(created, &sessions)
        signal_protocol_store_context_set_pre_key_store(created, &preKeys)
        signal_protocol_store_context_set_signed_pre_key_store(created, &signedPreKeys)
        signal_protocol_store_context_set_identity_key_store(created, &identity)
    }

    deinit {
        signal_protocol_store_context_destroy(storeContext)
    }

    /// Runs X3DH as the initiator against `bundle` and stores the new session for `peer`.
    /// The signed prekey's signature is checked first, so that only a self-consistent bundle
    /// can raise the question of trusting a new identity.
    func startSession(with peer: PeerAddress, bundle: PreKeyBundle) throws(EncryptionError) {
        guard try context.verify(bundle.signedPreKey, signedBy: bundle.identityKey) else { throw .invalidSignature }
        let identityKey = try context.decode(bundle.identityKey.publicKey)
        defer { unref(identityKey) }
        let signedPreKey = try context.decode(bundle.signedPreKey.publicKey)
        defer { unref(signedPreKey) }
        let oneTimePreKey = try bundle.oneTimePreKey.map { key throws(EncryptionError) in try context.decode(key.publicKey) }
        defer { unref(oneTimePreKey) }

        var nativeBundle: OpaquePointer?
        let created = bundle.signedPreKey.signature.withUnsafeBufferPointer { signature in
            session_pre_key_bundle_create(
                &nativeBundle, bundle.registrationID, peer.deviceID,
                bundle.oneTimePreKey?.id ?? 0, oneTimePreKey,
                bundle.signedPreKey.id, signedPreKey,
                signature.baseAddress, signature.count,
                identityKey
            )
        }
        try check(created, "session_pre_key_bundle_create")
        defer { unref(nativeBundle) }

        bridge.failure = nil
        let result = withAddress(peer) { address -> Int32 in
            var builder: OpaquePointer?
            let made = session_builder_create(&builder, storeContext, address, context.pointer)
            guard made >= 0 else { return made }
            defer { session_builder_free(builder) }
            session_builder_set_version(builder, Self.sessionVersion)
            return session_builder_process_pre_key_bundle(builder, nativeBundle)
        }
        guard result < 0 else { return }
        switch result {
        case Int32(SG_ERR_UNTRUSTED_IDENTITY): throw .untrustedIdentity(peer, bundle.identityKey)
        case Int32(SG_ERR_INVALID_KEY): throw .invalidKey
        default: throw error(result, "session_builder_process_pre_key_bundle")
        }
    }

    /// Whether a session with `peer` is stored.
    func hasSession(with peer: PeerAddress) throws(EncryptionError) -> Bool {
        bridge.failure = nil
        let result = withAddress(peer) { signal_protocol_session_contains_session(storeContext, $0) }
        guard result >= 0 else { throw error(result, "contains session") }
        return result == 1
    }

    /// Encrypts `plaintext` for `peer`: a prekey message until the peer's first reply
    /// arrives, a normal message after that.
    func encrypt(_ plaintext: [UInt8], for peer: PeerAddress) throws(EncryptionError) -> EncryptedMessage {
        // Without a stored session the cipher would ratchet an empty state and fail with an
        // unhelpful SG_ERR_UNKNOWN.
        guard try hasSession(with: peer) else { throw .noSession(peer) }
        bridge.failure = nil
        var message: OpaquePointer?
        let result = withAddress(peer) { address -> Int32 in
            var cipher: OpaquePointer?
            let made = session_cipher_create(&cipher, storeContext, address, context.pointer)
            guard made >= 0 else { return made }
            defer { session_cipher_free(cipher) }
            session_cipher_set_version(cipher, Self.sessionVersion)
            return plaintext.withUnsafeBufferPointer { session_cipher_encrypt(cipher, $0.baseAddress, $0.count, &message) }
        }
        defer { unref(message) }
        guard result >= 0, let message else { throw error(result, "session_cipher_encrypt") }
        // The serialization belongs to the message; copy it before the message goes.
        guard let serialized = ciphertext_message_get_serialized(message) else {
            throw .library(operation: "ciphertext_message_get_serialized", code: Int32(SG_ERR_UNKNOWN))
        }
        let kind: EncryptedMessage.Kind
        switch ciphertext_message_get_type(message) {
        case Int32(CIPHERTEXT_PREKEY_TYPE): kind = .preKey
        case Int32(CIPHERTEXT_SIGNAL_TYPE): kind = .normal
        case let other: throw .library(operation: "session_cipher_encrypt made message type \(other)", code: 0)
        }
        return EncryptedMessage(kind: kind, body: bytes(of: serialized))
    }

    /// Decrypts a message from `peer`. Nothing in the session changes unless it succeeds,
    /// except (for a prekey message from a peer with no trusted key yet) the identity that
    /// libomemo-c records before it checks the inner message; `LocalDevice` undoes that.
    func decrypt(_ message: EncryptedMessage, from peer: PeerAddress) throws(EncryptionError) -> [UInt8] {
        switch message.kind {
        case .preKey: try decryptPreKeyMessage(message.body, from: peer)
        case .normal: try decryptNormalMessage(message.body, from: peer)
        }
    }

    private func decryptPreKeyMessage(_ body: [UInt8], from peer: PeerAddress) throws(EncryptionError) -> [UInt8] {
        var parsed: OpaquePointer?
        let deserialized = body.withUnsafeBufferPointer {
            pre_key_signal_message_deserialize(&parsed, $0.baseAddress, $0.count, context.pointer)
        }
        guard deserialized >= 0, let parsed else { throw receiveError(deserialized, from: peer) }
        defer { unref(parsed) }

        bridge.failure = nil
        var plaintext: OpaquePointer?
        let result = withAddress(peer) { address -> Int32 in
            var cipher: OpaquePointer?
            let made = session_cipher_create(&cipher, storeContext, address, context.pointer)
            guard made >= 0 else { return made }
            defer { session_cipher_free(cipher) }
            session_cipher_set_version(cipher, Self.sessionVersion)
            return session_cipher_decrypt_pre_key_signal_message(cipher, parsed, nil, &plaintext)
        }
        if result == Int32(SG_ERR_UNTRUSTED_IDENTITY) {
            throw .untrustedIdentity(peer, IdentityKey(try publicKey(of: pre_key_signal_message_get_identity_key(parsed))))
        }
        return try take(plaintext, result: result, from: peer)
    }

    private func decryptNormalMessage(_ body: [UInt8], from peer: PeerAddress) throws(EncryptionError) -> [UInt8] {
        var parsed: OpaquePointer?
        let deserialized = body.withUnsafeBufferPointer {
            signal_message_deserialize(&parsed, $0.baseAddress, $0.count, context.pointer)
        }
        guard deserialized >= 0, let parsed else { throw receiveError(deserialized, from: peer) }
        defer { unref(parsed) }

        bridge.failure = nil
        var plaintext: OpaquePointer?
        let result = withAddress(peer) { address -> Int32 in
            var cipher: OpaquePointer?
            let made = session_cipher_create(&cipher, storeContext, address, context.pointer)
            guard made >= 0 else { return made }
            defer { session_cipher_free(cipher) }
            session_cipher_set_version(cipher, Self.sessionVersion)
            return session_cipher_decrypt_signal_message(cipher, parsed, nil, &plaintext)
        }
        return try take(plaintext, result: result, from: peer)
    }

    /// The plaintext's bytes, with the library's buffer zeroed and freed; or the typed error.
    private func take(_ plaintext: OpaquePointer?, result: Int32, from peer: PeerAddress) throws(EncryptionError) -> [UInt8] {
        guard result >= 0, let plaintext else {
            signal_buffer_bzero_free(plaintext)
            throw receiveError(result, from: peer)
        }
        defer { signal_buffer_bzero_free(plaintext) }
        return bytes(of: plaintext)
    }

    /// The typed error for a refused incoming message.
    private func receiveError(_ code: Int32, from peer: PeerAddress) -> EncryptionError {
        switch code {
        case Int32(SG_ERR_DUPLICATE_MESSAGE):
            .duplicateMessage
        case Int32(SG_ERR_LEGACY_MESSAGE):
            .legacyMessage
        case Int32(SG_ERR_NO_SESSION):
            .noSession(peer)
        case Int32(SG_ERR_INVALID_KEY_ID):
            .invalidKeyID
        // Whatever does not parse, authenticate or fit the session: a bad MAC, a malformed
        // protobuf or key, a version it does not speak, a counter over 2000 ahead.
        case Int32(SG_ERR_INVALID_MESSAGE), Int32(SG_ERR_INVALID_MAC), Int32(SG_ERR_INVALID_PROTO_BUF),
             Int32(SG_ERR_INVALID_VERSION), Int32(SG_ERR_INVALID_KEY), Int32(SG_ERR_INVAL):
            .invalidMessage
        default:
            error(code, "decrypt")
        }
    }

    /// A store's own error if one caused `code`, else a library error.
    private func error(_ code: Int32, _ operation: String) -> EncryptionError {
        if code == StoreBridge.storeFailureCode, let failure = bridge.failure {
            return .storeFailed(String(describing: failure))
        }
        return .library(operation: operation, code: code)
    }

    /// Lends libomemo-c a `signal_protocol_address` for `peer`, valid during `body` only.
    private func withAddress<Result>(
        _ peer: PeerAddress, _ body: (UnsafePointer<signal_protocol_address>) -> Result
    ) -> Result {
        // NUL-terminated although the length is passed too: libomemo-c logs the name with %s.
        peer.name.withCString { name in
            var address = signal_protocol_address(name: name, name_len: peer.name.utf8.count, device_id: peer.deviceID)
            return withUnsafePointer(to: &address) { body($0) }
        }
    }
}
