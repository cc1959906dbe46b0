internal import COpenSSL

/// scrypt through OpenSSL (`EVP_PBE_scrypt`): the server's password hashes and the client's
/// vault key both come from here.
public enum Scrypt {
    /// scrypt failed inside OpenSSL (it could not allocate the memory, or refused the
    /// parameters); `reason` is OpenSSL's own text.
    public struct Failure: Error, Hashable, Sendable {
        public let reason: String
    }

    /// The memory OpenSSL allocates for N, r and p, by its own formula (`128 * r * p` for B
    /// plus `128 * r * (N + 2)` for V).
    public static func requiredMemory(n: UInt64, r: UInt64, p: UInt64) -> UInt64 {
        let blockBytes = 128 * r
        return blockBytes * p + blockBytes * (n + 2)
    }

    /// scrypt of `password` and `salt`, `length` bytes long. Blocking, and slow on purpose
    /// with real parameters: run it off event loops.
    public static func derive(
        password: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, length: Int
    ) throws(Failure) -> [UInt8] {
        // maxmem 0 means OpenSSL's 32 MiB default, which refuses N = 2^15 with r = 8: pass
        // what these parameters need, plus slack.
        let maximumMemory = requiredMemory(n: n, r: r, p: p) + (1 << 20)
        var output = [UInt8](repeating: 0, count: length)
        OpenSSLErrorQueue.clear()
        let status = password.withUnsafeBytes { passwordBuffer in
            salt.withUnsafeBufferPointer { saltBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    // A NULL password is the empty one to OpenSSL, which is what an empty
                    // Swift array (no base address) means.
                    EVP_PBE_scrypt(
                        passwordBuffer.baseAddress?.assumingMemoryBound(to: CChar.self), passwordBuffer.count,
                        saltBuffer.baseAddress, saltBuffer.count,
                        n, r, p, maximumMemory,
                        outputBuffer.baseAddress, outputBuffer.count)
                }
            }
        }
        guard status == 1 else {
            throw Failure(reason: OpenSSLErrorQueue.drainDescription(fallback: "scrypt failed"))
        }
        return output
    }
}
