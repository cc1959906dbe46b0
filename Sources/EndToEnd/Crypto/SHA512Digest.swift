internal import COpenSSL

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
