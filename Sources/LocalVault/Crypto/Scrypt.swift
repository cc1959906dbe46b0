internal import COpenSSL

/// scrypt through OpenSSL (`EVP_PBE_scrypt`): the key-encryption key from the password.
enum Scrypt {
    /// scrypt of `password` and `salt` with `parameters`, `length` bytes long. Blocking, and
    /// slow on purpose with the standard parameters (see `ScryptParameters.standard`).
    ///
    /// - Throws: `VaultError.cryptoFailed` if OpenSSL fails (it could not allocate the memory).
    static func derive(
        password: [UInt8], salt: [UInt8], parameters: ScryptParameters, length: Int
    ) throws(VaultError) -> [UInt8] {
        // maxmem 0 means OpenSSL's 32 MiB default, which refuses N = 2^15 with r = 8: pass
        // what these parameters need, plus slack.
        let maximumMemory = parameters.requiredMemoryBytes + (1 << 20)
        var output = [UInt8](repeating: 0, count: length)
        OpenSSLFailure.clear()
        let status = password.withUnsafeBytes { passwordBuffer in
            salt.withUnsafeBufferPointer { saltBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    // A NULL password is the empty one to OpenSSL, which is what an empty Swift
                    // array (no base address) means.
                    EVP_PBE_scrypt(
                        passwordBuffer.baseAddress?.assumingMemoryBound(to: CChar.self),
                        passwordBuffer.count,
                        saltBuffer.baseAddress,
                        saltBuffer.count,
                        parameters.n,
                        UInt64(parameters.r),
                        UInt64(parameters.p),
                        maximumMemory,
                        outputBuffer.baseAddress,
                        outputBuffer.count
                    )
                }
            }
        }
        guard status == 1 else {
            throw .cryptoFailed(OpenSSLFailure.drain(fallback: "scrypt failed"))
        }
        return output
    }
}
