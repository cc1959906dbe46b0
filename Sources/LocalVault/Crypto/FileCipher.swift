internal import COpenSSL
import OpenSSLSupport

/// The chunks of one file sent end to end: AES-256-GCM under a key made for that file
/// alone, each chunk sealed as `nonce || ciphertext || tag` with a fresh random nonce (a
/// file has at most a few hundred chunks) and authenticated together with the file's id,
/// the chunk's index and the number of chunks, so that a server cannot reorder, swap
/// between files, drop or truncate chunks unnoticed.
public struct FileCipher: Sendable {
    /// Bytes a sealed chunk has on top of its plaintext.
    public static let overhead = AESGCM.overhead

    /// The file's key, sent to the recipient inside the ratchet.
    public let key: [UInt8]

    /// A cipher with a new random key.
    ///
    /// - Throws: `VaultError.cryptoFailed` if the random generator fails.
    public static func random() throws(VaultError) -> FileCipher {
        FileCipher(key: try SecureRandom.bytes(AESGCM.keyLength))!
    }

    /// A new random file id: 16 bytes as 32 lower-case hex digits.
    ///
    /// - Throws: `VaultError.cryptoFailed` if the random generator fails.
    public static func newFileID() throws(VaultError) -> String {
        try SecureRandom.bytes(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The cipher of a file whose key came with its offer; nil for a key of the wrong length.
    public init?(key: [UInt8]) {
        guard key.count == AESGCM.keyLength else { return nil }
        self.key = key
    }

    /// Chunk `index` of the `count` chunks of file `fileID`, sealed.
    ///
    /// - Throws: `VaultError.cryptoFailed` if OpenSSL fails.
    public func seal(_ chunk: [UInt8], fileID: String, index: Int, of count: Int) throws(VaultError) -> [UInt8] {
        try AESGCM.seal(chunk, key: key, associatedData: Self.associatedData(fileID, index, count))
    }

    /// The plaintext of a sealed chunk; nil when it was not sealed as chunk `index` of the
    /// `count` chunks of `fileID` under this key (changed, moved, or from another file).
    ///
    /// - Throws: `VaultError.cryptoFailed` only if OpenSSL itself fails.
    public func open(_ sealed: [UInt8], fileID: String, index: Int, of count: Int) throws(VaultError) -> [UInt8]? {
        try AESGCM.open(sealed[...], key: key, associatedData: Self.associatedData(fileID, index, count))
    }

    private static func associatedData(_ fileID: String, _ index: Int, _ count: Int) -> [UInt8] {
        Array("secure-chat file chunk v1\0".utf8) + Array(fileID.utf8) + bigEndian(UInt32(index)) + bigEndian(UInt32(count))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}

/// SHA-256 of a file read in pieces, through OpenSSL's EVP digest.
public final class SHA256Hasher {
    private let context: OpaquePointer

    /// A new digest.
    ///
    /// - Throws: `VaultError.cryptoFailed` if OpenSSL cannot make one.
    public init() throws(VaultError) {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_MD_CTX_new() else { throw .cryptoFailed("cannot allocate a digest context") }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(context)
            throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "SHA-256 init failed"))
        }
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    /// Adds `bytes` to what is hashed.
    public func update(_ bytes: [UInt8]) throws(VaultError) {
        let ok = bytes.withUnsafeBufferPointer { EVP_DigestUpdate(context, $0.baseAddress, $0.count) == 1 }
        guard ok else { throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "SHA-256 update failed")) }
    }

    /// The digest of everything added, as 64 lower-case hex digits.
    public func hexDigest() throws(VaultError) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1, length == 32 else {
            throw .cryptoFailed(OpenSSLErrorQueue.drainDescription(fallback: "SHA-256 final failed"))
        }
        return digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
