internal import COmemo

/// Key generation and the reading of stored key records, through libomemo-c's key helper
/// (Curve25519 and XEdDSA are libomemo-c's own code; the randomness is OpenSSL's).
extension SignalContext {
    /// A new identity key pair and a registration id from 1 to 16380.
    func generateIdentity() throws(EncryptionError) -> LocalIdentity {
        var pair: OpaquePointer?
        try check(signal_protocol_key_helper_generate_identity_key_pair(&pair, pointer), "generate identity key pair")
        defer { unref(pair) }
        let publicKey = try publicKey(of: ratchet_identity_key_pair_get_public(pair))
        let privateKey = try serialize("ec_private_key_serialize", secret: true) {
            ec_private_key_serialize($0, ratchet_identity_key_pair_get_private(pair))
        }
        var registrationID: UInt32 = 0
        try check(
            signal_protocol_key_helper_generate_registration_id(&registrationID, 0, pointer),
            "generate registration id"
        )
        return LocalIdentity(identityKey: IdentityKey(publicKey), privateKey: privateKey, registrationID: registrationID)
    }

    /// `count` one-time prekeys with ids from `firstID` on, wrapping from 0xFFFFFE to 1 as
    /// libomemo-c's key helper does. Each comes with its serialized record (secret).
    func generatePreKeys(firstID: UInt32, count: Int) throws(EncryptionError) -> [(key: OneTimePreKey, record: [UInt8])] {
        guard count > 0 else { return [] }
        var head: OpaquePointer?
        try check(
            signal_protocol_key_helper_generate_pre_keys(&head, firstID, UInt32(count), pointer),
            "generate prekeys"
        )
        defer { signal_protocol_key_helper_key_list_free(head) }
        var generated: [(key: OneTimePreKey, record: [UInt8])] = []
        var node = head
        while let current = node {
            let preKey = signal_protocol_key_helper_key_list_element(current)
            let record = try serialize("session_pre_key_serialize", secret: true) { session_pre_key_serialize($0, preKey) }
            let publicKey = try publicKey(of: ec_key_pair_get_public(session_pre_key_get_key_pair(preKey)))
            generated.append((OneTimePreKey(id: session_pre_key_get_id(preKey), publicKey: publicKey), record))
            node = signal_protocol_key_helper_key_list_next(current)
        }
        return generated
    }

    /// A new signed prekey, signed by `identity` (XEdDSA over its 33-byte serialization), with
    /// its serialized record (secret). `timestamp` is milliseconds since 1970.
    func generateSignedPreKey(
        identity: LocalIdentity, id: UInt32, timestamp: UInt64
    ) throws(EncryptionError) -> (key: SignedPreKey, record: [UInt8]) {
        let pair = try decode(identity)
        defer { unref(pair) }
        var signed: OpaquePointer?
        try check(
            signal_protocol_key_helper_generate_signed_pre_key(&signed, pair, id, timestamp, pointer),
            "generate signed prekey"
        )
        defer { unref(signed) }
        let record = try serialize("session_signed_pre_key_serialize", secret: true) {
            session_signed_pre_key_serialize($0, signed)
        }
        return (try signedPreKey(of: signed), record)
    }

    /// The public half of a stored one-time prekey record.
    func oneTimePreKey(record: [UInt8]) throws(EncryptionError) -> OneTimePreKey {
        var preKey: OpaquePointer?
        let result = record.withUnsafeBufferPointer {
            session_pre_key_deserialize(&preKey, $0.baseAddress, $0.count, pointer)
        }
        guard result >= 0, let preKey else { throw .malformed("a stored prekey record does not decode (\(result))") }
        defer { unref(preKey) }
        let publicKey = try publicKey(of: ec_key_pair_get_public(session_pre_key_get_key_pair(preKey)))
        return OneTimePreKey(id: session_pre_key_get_id(preKey), publicKey: publicKey)
    }

    /// The public half of a stored signed prekey record, and when it was made (milliseconds
    /// since 1970).
    func signedPreKey(record: [UInt8]) throws(EncryptionError) -> (key: SignedPreKey, timestamp: UInt64) {
        var signed: OpaquePointer?
        let result = record.withUnsafeBufferPointer {
            session_signed_pre_key_deserialize(&signed, $0.baseAddress, $0.count, pointer)
        }
        guard result >= 0, let signed else {
            throw .malformed("a stored signed prekey record does not decode (\(result))")
        }
        defer { unref(signed) }
        return (try signedPreKey(of: signed), session_signed_pre_key_get_timestamp(signed))
    }

    /// Whether `signedPreKey.signature` is `identityKey`'s XEdDSA signature over the signed
    /// prekey's 33 serialized bytes (what session version 3 signs and checks).
    func verify(_ signedPreKey: SignedPreKey, signedBy identityKey: IdentityKey) throws(EncryptionError) -> Bool {
        let signer = try decode(identityKey.publicKey)
        defer { unref(signer) }
        let result = signedPreKey.publicKey.bytes.withUnsafeBufferPointer { message in
            signedPreKey.signature.withUnsafeBufferPointer { signature in
                curve_verify_signature(signer, message.baseAddress, message.count, signature.baseAddress, signature.count)
            }
        }
        return result == 1
    }

    private func signedPreKey(of signed: OpaquePointer?) throws(EncryptionError) -> SignedPreKey {
        let publicKey = try publicKey(of: ec_key_pair_get_public(session_signed_pre_key_get_key_pair(signed)))
        let signature = Array(UnsafeBufferPointer(
            start: session_signed_pre_key_get_signature(signed),
            count: session_signed_pre_key_get_signature_len(signed)
        ))
        return try SignedPreKey(id: session_signed_pre_key_get_id(signed), publicKey: publicKey, signature: signature)
    }
}
