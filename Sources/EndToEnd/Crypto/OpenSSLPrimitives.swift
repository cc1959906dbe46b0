internal import COpenSSL

/// The symmetric primitives the Signal protocol needs, over OpenSSL's EVP interface: the
/// crypto provider hands them to libomemo-c, and the safety number hashes with SHA-512.
/// Nothing here is implemented by hand; OpenSSL does the arithmetic.
enum OpenSSLPrimitives {
    /// Fills `count` bytes at `buffer` from OpenSSL's CSPRNG. False if it could not.
    static func randomBytes(_ buffer: UnsafeMutableRawPointer, count: Int) -> Bool {
        guard count >= 0, count <= Int(Int32.max) else { return false }
        if count == 0 { return true }
        return RAND_bytes(buffer.assumingMemoryBound(to: UInt8.self), Int32(count)) == 1
    }

    /// `count` random bytes, or nil if the CSPRNG failed.
    static func randomBytes(count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return true }
            return randomBytes(base, count: count)
        }
        return ok ? bytes : nil
    }
}

/// A running HMAC-SHA256 (EVP_MAC "HMAC" with digest SHA256).
final class HMACSHA256 {
    private let context: OpaquePointer

    /// Nil if OpenSSL could not set up the MAC (no HMAC implementation, out of memory).
    init?(key: UnsafeRawBufferPointer) {
        guard let mac = FetchedAlgorithms.shared.hmac, let context = EVP_MAC_CTX_new(mac) else {
            return nil
        }
        // An empty key still needs a non-NULL pointer: EVP_MAC_init reads NULL as "keep the
        // previous key", and a new context has none.
        var emptyKey: UInt8 = 0
        let keyPointer = key.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let initialised = withUnsafeMutablePointer(to: &emptyKey) { empty in
            "digest".withCString { name in
                "SHA256".withCString { digest in
                    var params = [
                        OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0),
                        OSSL_PARAM_construct_end(),
                    ]
                    return EVP_MAC_init(context, keyPointer ?? UnsafePointer(empty), key.count, &params) == 1
                }
            }
        }
        guard initialised else {
            EVP_MAC_CTX_free(context)
            return nil
        }
        self.context = context
    }

    deinit {
        EVP_MAC_CTX_free(context)
    }

    /// Adds bytes to the MAC. False if OpenSSL refused.
    func update(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let base = data.baseAddress, data.count > 0 else { return true }
        return EVP_MAC_update(context, base.assumingMemoryBound(to: UInt8.self), data.count) == 1
    }

    /// The 32-byte MAC, or nil if OpenSSL failed.
    func finish() -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: 32)
        var length = 0
        let ok = output.withUnsafeMutableBufferPointer { buffer in
            EVP_MAC_final(context, buffer.baseAddress, &length, buffer.count) == 1
        }
        return ok && length == 32 ? output : nil
    }
}

/// A running SHA-512 digest that can be reused after `finish()`, as libomemo-c's provider
/// contract asks ("finalize ... and prepare the context for reuse").
final class SHA512Digest {
    private let context: OpaquePointer

    /// Nil if OpenSSL could not set up the digest.
    init?() {
        guard let context = EVP_MD_CTX_new() else { return nil }
        guard EVP_DigestInit_ex(context, EVP_sha512(), nil) == 1 else {
            EVP_MD_CTX_free(context)
            return nil
        }
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    /// Adds bytes to the digest. False if OpenSSL refused.
    func update(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let base = data.baseAddress, data.count > 0 else { return true }
        return EVP_DigestUpdate(context, base, data.count) == 1
    }

    /// The 64-byte digest, or nil if OpenSSL failed; the context starts a new digest after.
    func finish() -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = output.withUnsafeMutableBufferPointer { buffer in
            EVP_DigestFinal_ex(context, buffer.baseAddress, &length) == 1
        }
        guard ok, length == 64, EVP_DigestInit_ex(context, EVP_sha512(), nil) == 1 else { return nil }
        return output
    }

    /// SHA-512 of `data` in one call.
    static func hash(_ data: [UInt8]) -> [UInt8]? {
        guard let digest = SHA512Digest() else { return nil }
        let ok = data.withUnsafeBytes { digest.update($0) }
        return ok ? digest.finish() : nil
    }
}

/// AES in the two modes libomemo-c names: CBC with PKCS#5 padding (every message body of
/// session version 3) and CTR without padding (the legacy version 2 body).
enum AESCipher {
    enum Mode {
        case cbcPKCS5
        case ctr
    }

    /// Encrypts `input`; nil for an unsupported key or IV size, or an OpenSSL failure.
    static func encrypt(
        mode: Mode, key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer
    ) -> [UInt8]? {
        crypt(encrypting: true, mode: mode, key: key, iv: iv, input: input)
    }

    /// Decrypts `input`; nil for an unsupported key or IV size, bad padding, or an OpenSSL failure.
    static func decrypt(
        mode: Mode, key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer
    ) -> [UInt8]? {
        crypt(encrypting: false, mode: mode, key: key, iv: iv, input: input)
    }

    private static func cipher(mode: Mode, keyLength: Int) -> OpaquePointer? {
        switch (mode, keyLength) {
        case (.cbcPKCS5, 16): EVP_aes_128_cbc()
        case (.cbcPKCS5, 24): EVP_aes_192_cbc()
        case (.cbcPKCS5, 32): EVP_aes_256_cbc()
        case (.ctr, 16): EVP_aes_128_ctr()
        case (.ctr, 24): EVP_aes_192_ctr()
        case (.ctr, 32): EVP_aes_256_ctr()
        default: nil
        }
    }

    private static func crypt(
        encrypting: Bool, mode: Mode,
        key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer
    ) -> [UInt8]? {
        guard iv.count == 16, let cipher = cipher(mode: mode, keyLength: key.count),
              let keyBase = key.baseAddress, let ivBase = iv.baseAddress,
              input.count <= Int(Int32.max) - 32,
              let context = EVP_CIPHER_CTX_new()
        else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }

        guard EVP_CipherInit_ex(
            context, cipher, nil,
            keyBase.assumingMemoryBound(to: UInt8.self), ivBase.assumingMemoryBound(to: UInt8.self),
            encrypting ? 1 : 0
        ) == 1 else { return nil }
        // CBC pads (PKCS#7, which for 16-byte blocks is what Signal calls PKCS5); CTR is a
        // stream mode and never pads, whatever the flag says.
        EVP_CIPHER_CTX_set_padding(context, mode == .cbcPKCS5 ? 1 : 0)

        var output = [UInt8](repeating: 0, count: input.count + 16)
        var total = 0
        let ok = output.withUnsafeMutableBufferPointer { out -> Bool in
            var written: Int32 = 0
            if let inputBase = input.baseAddress, input.count > 0 {
                guard EVP_CipherUpdate(
                    context, out.baseAddress, &written,
                    inputBase.assumingMemoryBound(to: UInt8.self), Int32(input.count)
                ) == 1 else { return false }
                total = Int(written)
            }
            guard EVP_CipherFinal_ex(context, out.baseAddress! + total, &written) == 1 else { return false }
            total += Int(written)
            return true
        }
        guard ok else { return nil }
        output.removeSubrange(total...)
        return output
    }
}

/// Algorithms fetched once from OpenSSL's default provider.
///
/// `@unchecked Sendable`: an `EVP_MAC` is immutable after `EVP_MAC_fetch` and OpenSSL
/// reference-counts it thread-safely, so every thread may create contexts from it.
private final class FetchedAlgorithms: @unchecked Sendable {
    static let shared = FetchedAlgorithms()

    let hmac: OpaquePointer?

    private init() {
        hmac = EVP_MAC_fetch(nil, "HMAC", nil)
    }
}
