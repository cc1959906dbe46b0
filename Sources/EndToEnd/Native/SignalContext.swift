internal import COmemo

/// Owns a libomemo-c global context (`signal_context`) with the OpenSSL crypto provider.
///
/// No locking functions are installed: libomemo-c takes its lock only to serialise calls on
/// one context, and a context here belongs to one `LocalDevice`, which is not Sendable and
/// so is used from one task at a time.
final class SignalContext {
    let pointer: OpaquePointer

    init() throws(EncryptionError) {
        var context: OpaquePointer?
        try check(signal_context_create(&context, nil), "signal_context_create")
        guard let context else { throw .library(operation: "signal_context_create", code: Int32(SG_ERR_NOMEM)) }
        var provider = CryptoProvider.table()
        let result = signal_context_set_crypto_provider(context, &provider)
        guard result == 0 else {
            signal_context_destroy(context)
            throw .library(operation: "signal_context_set_crypto_provider", code: result)
        }
        pointer = context
    }

    deinit {
        signal_context_destroy(pointer)
    }
}

/// Throws `.library` for a negative libomemo-c result.
func check(_ result: Int32, _ operation: String) throws(EncryptionError) {
    if result < 0 { throw .library(operation: operation, code: result) }
}

/// Drops one reference to a libomemo-c object (its `SIGNAL_UNREF` macro, which Swift cannot
/// import). Every `*_create`, `*_deserialize` and key-generating call hands out one
/// reference; `*_get_*` accessors lend theirs and must not be unreferenced.
func unref(_ object: OpaquePointer?) {
    if let object { signal_type_unref(object) }
}

/// A copy of a `signal_buffer`'s bytes.
func bytes(of buffer: OpaquePointer) -> [UInt8] {
    Array(UnsafeBufferPointer(start: signal_buffer_data(buffer), count: signal_buffer_len(buffer)))
}

/// Runs `make` (a libomemo-c serializer filling a `signal_buffer **`), returns a copy of the
/// bytes and frees the buffer (zeroing it first if it held a secret).
func serialize(
    _ operation: String, secret: Bool = false, _ make: (UnsafeMutablePointer<OpaquePointer?>) -> Int32
) throws(EncryptionError) -> [UInt8] {
    var buffer: OpaquePointer?
    try check(make(&buffer), operation)
    guard let buffer else { throw .library(operation: operation, code: Int32(SG_ERR_UNKNOWN)) }
    defer { secret ? signal_buffer_bzero_free(buffer) : signal_buffer_free(buffer) }
    return bytes(of: buffer)
}

extension SignalContext {
    /// Decodes a 33-byte public key; the caller owns the returned reference.
    func decode(_ key: PublicKey) throws(EncryptionError) -> OpaquePointer {
        var decoded: OpaquePointer?
        let result = key.bytes.withUnsafeBufferPointer { curve_decode_point(&decoded, $0.baseAddress, $0.count, pointer) }
        guard result >= 0, let decoded else { throw .invalidKey }
        return decoded
    }

    /// Decodes this device's identity key pair; the caller owns the returned reference.
    func decode(_ identity: LocalIdentity) throws(EncryptionError) -> OpaquePointer {
        let publicKey = try decode(identity.identityKey.publicKey)
        defer { unref(publicKey) }
        var privateKey: OpaquePointer?
        let decoded = identity.privateKey.withUnsafeBufferPointer {
            curve_decode_private_point(&privateKey, $0.baseAddress, $0.count, pointer)
        }
        guard decoded >= 0, let privateKey else { throw .invalidKey }
        defer { unref(privateKey) }
        // The pair takes its own references to both keys.
        var pair: OpaquePointer?
        try check(ratchet_identity_key_pair_create(&pair, publicKey, privateKey), "ratchet_identity_key_pair_create")
        guard let pair else { throw .library(operation: "ratchet_identity_key_pair_create", code: Int32(SG_ERR_NOMEM)) }
        return pair
    }
}

/// The 33-byte serialization of a libomemo-c public key the caller lends.
func publicKey(of key: OpaquePointer?) throws(EncryptionError) -> PublicKey {
    try PublicKey(bytes: serialize("ec_public_key_serialize") { ec_public_key_serialize($0, key) })
}
