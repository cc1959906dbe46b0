import COmemo
@testable import EndToEnd
import Testing

/// Known-answer tests of the crypto provider, called through the very C function table that
/// libomemo-c receives, against published vectors.
@Suite struct CryptoProviderTests {
    let table = CryptoProvider.table()

    // MARK: Calling the table as libomemo-c does

    private func take(_ buffer: OpaquePointer?) -> [UInt8]? {
        guard let buffer else { return nil }
        defer { signal_buffer_free(buffer) }
        return Array(UnsafeBufferPointer(start: signal_buffer_data(buffer), count: signal_buffer_len(buffer)))
    }

    private func sha512(_ chunks: [[UInt8]]) -> [UInt8]? {
        var context: UnsafeMutableRawPointer?
        guard table.sha512_digest_init_func!(&context, nil) == 0 else { return nil }
        defer { table.sha512_digest_cleanup_func!(context, nil) }
        for chunk in chunks {
            guard chunk.withUnsafeBufferPointer({ table.sha512_digest_update_func!(context, $0.baseAddress, $0.count, nil) }) == 0
            else { return nil }
        }
        var output: OpaquePointer?
        guard table.sha512_digest_final_func!(context, &output, nil) == 0 else { return nil }
        return take(output)
    }

    private func hmac(key: [UInt8], _ chunks: [[UInt8]]) -> [UInt8]? {
        var context: UnsafeMutableRawPointer?
        guard key.withUnsafeBufferPointer({ table.hmac_sha256_init_func!(&context, $0.baseAddress, $0.count, nil) }) == 0
        else { return nil }
        defer { table.hmac_sha256_cleanup_func!(context, nil) }
        for chunk in chunks {
            guard chunk.withUnsafeBufferPointer({ table.hmac_sha256_update_func!(context, $0.baseAddress, $0.count, nil) }) == 0
            else { return nil }
        }
        var output: OpaquePointer?
        guard table.hmac_sha256_final_func!(context, &output, nil) == 0 else { return nil }
        return take(output)
    }

    private func crypt(encrypt: Bool, cipher: Int32, key: [UInt8], iv: [UInt8], input: [UInt8]) -> [UInt8]? {
        var output: OpaquePointer?
        let function = encrypt ? table.encrypt_func! : table.decrypt_func!
        let result = key.withUnsafeBufferPointer { key in
            iv.withUnsafeBufferPointer { iv in
                input.withUnsafeBufferPointer { input in
                    function(&output, cipher, key.baseAddress, key.count, iv.baseAddress, iv.count,
                             input.baseAddress, input.count, nil)
                }
            }
        }
        return result == 0 ? take(output) : nil
    }

    // MARK: SHA-512, FIPS 180-2 appendix C.1

    static let sha512ABC = [UInt8](hex: """
        ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
        2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f
        """)

    @Test func sha512OfABC() {
        #expect(sha512([Array("abc".utf8)]) == Self.sha512ABC)
    }

    @Test func sha512InPiecesAndContextReusedAfterFinal() {
        #expect(sha512([Array("a".utf8), [], Array("bc".utf8)]) == Self.sha512ABC)
        // The provider contract: final leaves the context ready for a new digest.
        var context: UnsafeMutableRawPointer?
        #expect(table.sha512_digest_init_func!(&context, nil) == 0)
        defer { table.sha512_digest_cleanup_func!(context, nil) }
        for _ in 0..<2 {
            let abc: [UInt8] = Array("abc".utf8)
            #expect(abc.withUnsafeBufferPointer { table.sha512_digest_update_func!(context, $0.baseAddress, $0.count, nil) } == 0)
            var output: OpaquePointer?
            #expect(table.sha512_digest_final_func!(context, &output, nil) == 0)
            #expect(take(output) == Self.sha512ABC)
        }
    }

    // MARK: HMAC-SHA256, RFC 4231 test cases 1 and 2

    @Test func hmacSHA256RFC4231Case1() {
        let key = [UInt8](repeating: 0x0B, count: 20)
        #expect(hmac(key: key, [Array("Hi There".utf8)])
            == [UInt8](hex: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"))
    }

    @Test func hmacSHA256RFC4231Case2() {
        let expected = [UInt8](hex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(hmac(key: Array("Jefe".utf8), [Array("what do ya want for nothing?".utf8)]) == expected)
        #expect(hmac(key: Array("Jefe".utf8), [Array("what do ya ".utf8), Array("want for nothing?".utf8)]) == expected)
    }

    // MARK: AES-256, NIST SP 800-38A

    static let aesKey = [UInt8](hex: "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    static let plaintext = [UInt8](hex: """
        6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
        30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710
        """)
    static let cbcIV = [UInt8](hex: "000102030405060708090a0b0c0d0e0f")
    static let cbcCiphertext = [UInt8](hex: """
        f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
        39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b
        """)
    /// The padding block PKCS#5 adds to a 64-byte plaintext: sixteen 0x10 bytes, CBC-chained
    /// after F.2.5's last block, i.e. AES-256(key, 0x10^16 XOR b2eb05e2...9d1b).
    static let cbcPaddingBlock = [UInt8](hex: "3f461796d6b0d6b2e0c2a72b4d80e644")
    static let counterBlock = [UInt8](hex: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    static let ctrCiphertext = [UInt8](hex: """
        601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
        2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6
        """)

    /// F.2.5 (CBC-AES256.Encrypt), in the PKCS#5 mode libomemo-c asks for: the four vector
    /// blocks, then one whole block of padding.
    @Test func aes256CBCEncryptF25() {
        let output = crypt(encrypt: true, cipher: Int32(SG_CIPHER_AES_CBC_PKCS5),
                           key: Self.aesKey, iv: Self.cbcIV, input: Self.plaintext)
        #expect(output == Self.cbcCiphertext + Self.cbcPaddingBlock)
    }

    /// F.2.6 (CBC-AES256.Decrypt), with the padding block that PKCS#5 mode expects.
    @Test func aes256CBCDecryptF26() {
        let output = crypt(encrypt: false, cipher: Int32(SG_CIPHER_AES_CBC_PKCS5),
                           key: Self.aesKey, iv: Self.cbcIV, input: Self.cbcCiphertext + Self.cbcPaddingBlock)
        #expect(output == Self.plaintext)
    }

    @Test func aes256CBCRefusesBadPadding() {
        // The vector alone ends in a block whose plaintext is not valid PKCS#5 padding.
        let output = crypt(encrypt: false, cipher: Int32(SG_CIPHER_AES_CBC_PKCS5),
                           key: Self.aesKey, iv: Self.cbcIV, input: Self.cbcCiphertext)
        #expect(output == nil)
    }

    /// F.5.5 (CTR-AES256.Encrypt): no padding, output as long as the input.
    @Test func aes256CTREncryptF55() {
        let output = crypt(encrypt: true, cipher: Int32(SG_CIPHER_AES_CTR_NOPADDING),
                           key: Self.aesKey, iv: Self.counterBlock, input: Self.plaintext)
        #expect(output == Self.ctrCiphertext)
        let partial = crypt(encrypt: true, cipher: Int32(SG_CIPHER_AES_CTR_NOPADDING),
                            key: Self.aesKey, iv: Self.counterBlock, input: Array(Self.plaintext.prefix(21)))
        #expect(partial == Array(Self.ctrCiphertext.prefix(21)))
    }

    /// F.5.6 (CTR-AES256.Decrypt).
    @Test func aes256CTRDecryptF56() {
        let output = crypt(encrypt: false, cipher: Int32(SG_CIPHER_AES_CTR_NOPADDING),
                           key: Self.aesKey, iv: Self.counterBlock, input: Self.ctrCiphertext)
        #expect(output == Self.plaintext)
    }

    @Test func refusesUnknownCipherAndBadSizes() {
        #expect(crypt(encrypt: true, cipher: 99, key: Self.aesKey, iv: Self.cbcIV, input: Self.plaintext) == nil)
        #expect(crypt(encrypt: true, cipher: Int32(SG_CIPHER_AES_CBC_PKCS5),
                      key: Array(Self.aesKey.prefix(20)), iv: Self.cbcIV, input: Self.plaintext) == nil)
        #expect(crypt(encrypt: true, cipher: Int32(SG_CIPHER_AES_CBC_PKCS5),
                      key: Self.aesKey, iv: Array(Self.cbcIV.prefix(12)), input: Self.plaintext) == nil)
    }

    // MARK: Randomness

    @Test func randomFillsTheBuffer() {
        var first = [UInt8](repeating: 0, count: 64)
        var second = [UInt8](repeating: 0, count: 64)
        #expect(first.withUnsafeMutableBufferPointer { table.random_func!($0.baseAddress, $0.count, nil) } == 0)
        #expect(second.withUnsafeMutableBufferPointer { table.random_func!($0.baseAddress, $0.count, nil) } == 0)
        #expect(first != second)
        #expect(first != [UInt8](repeating: 0, count: 64))
    }
}
