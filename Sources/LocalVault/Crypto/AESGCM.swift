internal import COpenSSL
import OpenSSLSupport

/// AES-256-GCM through OpenSSL's EVP interface. Sealed bytes are `nonce || ciphertext || tag`
/// with a fresh random 12-byte nonce per seal.
///
/// Random nonces under one key are safe for far more seals than a chat client makes (the bound
/// is about 2^32); every file in the vault is sealed under the one data key.
enum AESGCM {
    static let keyLength = 32
    static let nonceLength = 12
    static let tagLength = 16
    /// What sealing adds to the plaintext's length.
    static let overhead = nonceLength + tagLength

    /// Encrypts `plaintext` under `key` and authenticates it together with `associatedData`.
    ///
    /// - Throws: `VaultError.cryptoFailed` if OpenSSL or the random generator fails.
    static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws(VaultError) -> [UInt8] {
        precondition(key.count == keyLength, "AES-256 takes a 32-byte key")
        guard plaintext.count <= Int(Int32.max) - overhead else {
            throw .cryptoFailed("plaintext too long for one AES-GCM call")
        }
        let nonce = try SecureRandom.bytes(nonceLength)
        guard let context = EVP_CIPHER_CTX_new() else {
            throw .cryptoFailed("cannot allocate a cipher context")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        OpenSSLErrorQueue.clear()

        var sealed = nonce + [UInt8](repeating: 0, count: plaintext.count + tagLength)
        let ok = sealed.withUnsafeMutableBufferPointer { out -> Bool in
            let body = out.baseAddress! + nonceLength
            let tag = body + plaintext.count
            var written: Int32 = 0
            guard key.withUnsafeBufferPointer({ keyBuffer in
                      EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, keyBuffer.baseAddress, out.baseAddress) == 1
                  }),
                  addAssociatedData(associatedData, to: context, encrypting: true)
            else { return false }
            if !plaintext.isEmpty {
                guard plaintext.withUnsafeBufferPointer({ input in
                    EVP_EncryptUpdate(context, body, &written, input.baseAddress, Int32(input.count)) == 1
                }), Int(written) == plaintext.count else { return false }
            }
            // GCM writes nothing here; the pointer only has to be valid.
            guard EVP_EncryptFinal_ex(context, tag, &written) == 1, written == 0 else { return false }
            return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tagLength), tag) == 1
        }
        guard ok else {
            throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "AES-GCM encryption failed"))
        }
        return sealed
    }

    /// Decrypts what `seal` made with the same key and associated data; nil if the bytes are
    /// too short or the tag does not verify (a wrong key, or bytes that were changed).
    ///
    /// - Throws: `VaultError.cryptoFailed` only if OpenSSL itself fails.
    static func open(_ sealed: ArraySlice<UInt8>, key: [UInt8], associatedData: [UInt8]) throws(VaultError) -> [UInt8]? {
        precondition(key.count == keyLength, "AES-256 takes a 32-byte key")
        guard sealed.count >= overhead, sealed.count <= Int(Int32.max) else { return nil }
        let bodyLength = sealed.count - overhead
        guard let context = EVP_CIPHER_CTX_new() else {
            throw .cryptoFailed("cannot allocate a cipher context")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        OpenSSLErrorQueue.clear()

        // One spare byte so the final call has somewhere valid to point even for an empty
        // plaintext; GCM writes nothing there.
        var plaintext = [UInt8](repeating: 0, count: bodyLength + 1)
        // Set-up failures are OpenSSL's; only the final check speaks about the bytes.
        var setUpFailed = false
        let verified = sealed.withUnsafeBufferPointer { input -> Bool in
            let nonce = input.baseAddress!
            let body = nonce + nonceLength
            // EVP_CIPHER_CTX_ctrl takes a mutable pointer even to set the tag.
            var tag = Array(UnsafeBufferPointer(start: body + bodyLength, count: tagLength))
            var written: Int32 = 0
            guard key.withUnsafeBufferPointer({ keyBuffer in
                      EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, keyBuffer.baseAddress, nonce) == 1
                  }),
                  addAssociatedData(associatedData, to: context, encrypting: false),
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength), &tag) == 1
            else {
                setUpFailed = true
                return false
            }
            return plaintext.withUnsafeMutableBufferPointer { out -> Bool in
                if bodyLength > 0 {
                    guard EVP_DecryptUpdate(context, out.baseAddress, &written, body, Int32(bodyLength)) == 1,
                          Int(written) == bodyLength
                    else {
                        setUpFailed = true
                        return false
                    }
                }
                return EVP_DecryptFinal_ex(context, out.baseAddress! + bodyLength, &written) == 1
            }
        }
        if setUpFailed {
            throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "AES-GCM decryption failed"))
        }
        // A failed tag check leaves an error on the queue; it is an answer, not a failure.
        OpenSSLErrorQueue.clear()
        guard verified else { return nil }
        plaintext.removeLast()
        return plaintext
    }

    private static func addAssociatedData(_ data: [UInt8], to context: OpaquePointer, encrypting: Bool) -> Bool {
        guard !data.isEmpty else { return true }
        var written: Int32 = 0
        return data.withUnsafeBufferPointer { buffer in
            encrypting
                ? EVP_EncryptUpdate(context, nil, &written, buffer.baseAddress, Int32(buffer.count)) == 1
                : EVP_DecryptUpdate(context, nil, &written, buffer.baseAddress, Int32(buffer.count)) == 1
        }
    }
}
