internal import COmemo

/// libomemo-c's crypto provider: the C function table it calls for randomness, HMAC-SHA256,
/// SHA-512 and AES, every entry forwarding to OpenSSL through `SecureRandom`, `HMACSHA256`,
/// `SHA512Digest` and `AESCipher`.
///
/// Contract, from signal_protocol.h and the library's use of it: return 0 on success and a
/// negative code on failure; `*output` buffers are made with `signal_buffer_create` and freed
/// by the library; an init callback leaves its context in `*context`, which the matching
/// cleanup callback frees (the library may call cleanup after a failed init, so a NULL
/// context must be accepted). Contexts are retained Swift objects passed as raw pointers.
enum CryptoProvider {
    /// A fresh table; `user_data` is unused (every entry is stateless between contexts).
    static func table() -> signal_crypto_provider {
        signal_crypto_provider(
            random_func: random,
            hmac_sha256_init_func: hmacInit,
            hmac_sha256_update_func: hmacUpdate,
            hmac_sha256_final_func: hmacFinal,
            hmac_sha256_cleanup_func: hmacCleanup,
            sha512_digest_init_func: digestInit,
            sha512_digest_update_func: digestUpdate,
            sha512_digest_final_func: digestFinal,
            sha512_digest_cleanup_func: digestCleanup,
            encrypt_func: encrypt,
            decrypt_func: decrypt,
            user_data: nil
        )
    }
}

private let failure = Int32(SG_ERR_UNKNOWN)

private func random(_ data: UnsafeMutablePointer<UInt8>?, _ length: Int, _: UnsafeMutableRawPointer?) -> Int32 {
    guard length > 0 else { return 0 }
    guard let data else { return Int32(SG_ERR_INVAL) }
    return SecureRandom.fill(data, count: length) ? 0 : failure
}

private func hmacInit(
    _ context: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ key: UnsafePointer<UInt8>?, _ keyLength: Int, _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return Int32(SG_ERR_INVAL) }
    context.pointee = nil
    guard let mac = HMACSHA256(key: UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLength)) else {
        return failure
    }
    context.pointee = Unmanaged.passRetained(mac).toOpaque()
    return 0
}

private func hmacUpdate(
    _ context: UnsafeMutableRawPointer?, _ data: UnsafePointer<UInt8>?, _ length: Int, _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return Int32(SG_ERR_INVAL) }
    let mac = Unmanaged<HMACSHA256>.fromOpaque(context).takeUnretainedValue()
    return mac.update(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length)) ? 0 : failure
}

private func hmacFinal(
    _ context: UnsafeMutableRawPointer?, _ output: UnsafeMutablePointer<OpaquePointer?>?, _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context, let output else { return Int32(SG_ERR_INVAL) }
    let mac = Unmanaged<HMACSHA256>.fromOpaque(context).takeUnretainedValue()
    guard let value = mac.finish() else { return failure }
    return store(value, in: output)
}

private func hmacCleanup(_ context: UnsafeMutableRawPointer?, _: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<HMACSHA256>.fromOpaque(context).release()
}

private func digestInit(_ context: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _: UnsafeMutableRawPointer?) -> Int32 {
    guard let context else { return Int32(SG_ERR_INVAL) }
    context.pointee = nil
    guard let digest = SHA512Digest() else { return failure }
    context.pointee = Unmanaged.passRetained(digest).toOpaque()
    return 0
}

private func digestUpdate(
    _ context: UnsafeMutableRawPointer?, _ data: UnsafePointer<UInt8>?, _ length: Int, _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return Int32(SG_ERR_INVAL) }
    let digest = Unmanaged<SHA512Digest>.fromOpaque(context).takeUnretainedValue()
    return digest.update(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length)) ? 0 : failure
}

private func digestFinal(
    _ context: UnsafeMutableRawPointer?, _ output: UnsafeMutablePointer<OpaquePointer?>?, _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context, let output else { return Int32(SG_ERR_INVAL) }
    let digest = Unmanaged<SHA512Digest>.fromOpaque(context).takeUnretainedValue()
    guard let value = digest.finish() else { return failure }
    return store(value, in: output)
}

private func digestCleanup(_ context: UnsafeMutableRawPointer?, _: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<SHA512Digest>.fromOpaque(context).release()
}

private func encrypt(
    _ output: UnsafeMutablePointer<OpaquePointer?>?, _ cipher: Int32,
    _ key: UnsafePointer<UInt8>?, _ keyLength: Int,
    _ iv: UnsafePointer<UInt8>?, _ ivLength: Int,
    _ plaintext: UnsafePointer<UInt8>?, _ plaintextLength: Int,
    _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let output, let mode = mode(cipher) else { return Int32(SG_ERR_INVAL) }
    guard let result = AESCipher.encrypt(
        mode: mode,
        key: UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLength),
        iv: UnsafeRawBufferPointer(start: iv, count: iv == nil ? 0 : ivLength),
        input: UnsafeRawBufferPointer(start: plaintext, count: plaintext == nil ? 0 : plaintextLength)
    ) else { return failure }
    return store(result, in: output)
}

private func decrypt(
    _ output: UnsafeMutablePointer<OpaquePointer?>?, _ cipher: Int32,
    _ key: UnsafePointer<UInt8>?, _ keyLength: Int,
    _ iv: UnsafePointer<UInt8>?, _ ivLength: Int,
    _ ciphertext: UnsafePointer<UInt8>?, _ ciphertextLength: Int,
    _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let output, let mode = mode(cipher) else { return Int32(SG_ERR_INVAL) }
    guard let result = AESCipher.decrypt(
        mode: mode,
        key: UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLength),
        iv: UnsafeRawBufferPointer(start: iv, count: iv == nil ? 0 : ivLength),
        input: UnsafeRawBufferPointer(start: ciphertext, count: ciphertext == nil ? 0 : ciphertextLength)
    ) else { return failure }
    return store(result, in: output)
}

private func mode(_ cipher: Int32) -> AESCipher.Mode? {
    switch cipher {
    case Int32(SG_CIPHER_AES_CBC_PKCS5): .cbcPKCS5
    case Int32(SG_CIPHER_AES_CTR_NOPADDING): .ctr
    default: nil
    }
}

/// Hands `bytes` to the library in a buffer it frees.
private func store(_ bytes: [UInt8], in output: UnsafeMutablePointer<OpaquePointer?>) -> Int32 {
    guard let buffer = bytes.withUnsafeBufferPointer({ signal_buffer_create($0.baseAddress, $0.count) }) else {
        return Int32(SG_ERR_NOMEM)
    }
    output.pointee = buffer
    return 0
}
