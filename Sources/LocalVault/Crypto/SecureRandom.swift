internal import COpenSSL
import OpenSSLSupport

/// Salts, data keys and nonces: OpenSSL's CSPRNG (`RAND_bytes`).
enum SecureRandom {
    /// `count` random bytes.
    ///
    /// - Throws: `VaultError.cryptoFailed` if the generator fails; there is no weaker fallback.
    static func bytes(_ count: Int) throws(VaultError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        OpenSSLErrorQueue.clear()
        let status = bytes.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(buffer.count))
        }
        guard status == 1 else {
            throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "RAND_bytes failed"))
        }
        return bytes
    }
}
