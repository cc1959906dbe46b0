internal import COpenSSL

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
