import Foundation
import OpenSSLSupport

/// `vault.key`: the vault's data key, wrapped with AES-256-GCM under a key-encryption key that
/// scrypt derives from the password.
///
/// Layout (90 bytes): `"SCVK"`, version 1, logN (u8), r (u32 BE), p (u32 BE), salt (16), then
/// nonce (12), the wrapped data key (32) and the tag (16). Everything before the nonce is the
/// associated data, so the parameters and salt cannot be changed without the tag failing.
struct KeyFile {
    static let name = "vault.key"
    static let magic = Array("SCVK".utf8)
    static let version: UInt8 = 1
    static let saltLength = 16
    static let headerLength = magic.count + 1 + 1 + 4 + 4 + saltLength
    static let length = headerLength + AESGCM.overhead + AESGCM.keyLength

    let parameters: ScryptParameters
    let salt: [UInt8]
    /// nonce || wrapped data key || tag.
    let wrappedKey: [UInt8]

    /// Wraps `dataKey` under `password` with a fresh salt. Blocking: runs scrypt once.
    init(wrapping dataKey: [UInt8], password: String, parameters: ScryptParameters) throws(VaultError) {
        self.parameters = parameters
        salt = try SecureRandom.bytes(Self.saltLength)
        let header = Self.header(parameters: parameters, salt: salt)
        let keyEncryptionKey = try Self.deriveKey(password: password, salt: salt, parameters: parameters)
        wrappedKey = try AESGCM.seal(dataKey, key: keyEncryptionKey, associatedData: header)
    }

    /// Parses the file's bytes.
    ///
    /// - Throws: `VaultError.corrupt("vault.key")` for a wrong length, magic or version, or
    ///   scrypt parameters outside `ScryptParameters.isSupported`.
    init(decoding bytes: [UInt8]) throws(VaultError) {
        var reader = ByteReader(bytes)
        guard bytes.count == Self.length,
              reader.read(count: Self.magic.count).map(Array.init) == Self.magic,
              reader.readByte() == Self.version,
              let logN = reader.readByte(), let r = reader.readUInt32(), let p = reader.readUInt32(),
              let salt = reader.read(count: Self.saltLength),
              let wrappedKey = reader.read(count: reader.remaining)
        else { throw .corrupt(Self.name) }
        parameters = ScryptParameters(logN: logN, r: r, p: p)
        guard parameters.isSupported else { throw .corrupt(Self.name) }
        self.salt = Array(salt)
        self.wrappedKey = Array(wrappedKey)
    }

    /// The file's bytes.
    var encoded: [UInt8] {
        Self.header(parameters: parameters, salt: salt) + wrappedKey
    }

    /// The data key. Blocking: runs scrypt once.
    ///
    /// - Throws: `VaultError.wrongPassword` if the tag does not verify.
    func unwrap(password: String) throws(VaultError) -> [UInt8] {
        let keyEncryptionKey = try Self.deriveKey(password: password, salt: salt, parameters: parameters)
        guard let dataKey = try AESGCM.open(
            wrappedKey[...], key: keyEncryptionKey, associatedData: Self.header(parameters: parameters, salt: salt)
        ), dataKey.count == AESGCM.keyLength else {
            throw .wrongPassword
        }
        return dataKey
    }

    private static func header(parameters: ScryptParameters, salt: [UInt8]) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(raw: magic)
        writer.append(version)
        writer.append(parameters.logN)
        writer.append(parameters.r)
        writer.append(parameters.p)
        writer.append(raw: salt)
        return writer.bytes
    }

    /// The password's UTF-8 in Unicode NFC, through scrypt: "é" typed as one code point or as
    /// "e" plus a combining accent (terminals and input methods differ) is the same password.
    private static func deriveKey(password: String, salt: [UInt8], parameters: ScryptParameters) throws(VaultError) -> [UInt8] {
        do {
            return try Scrypt.derive(
                password: Array(password.precomposedStringWithCanonicalMapping.utf8), salt: salt,
                n: parameters.n, r: UInt64(parameters.r), p: UInt64(parameters.p), length: AESGCM.keyLength)
        } catch {
            throw .cryptoFailed(error.reason)
        }
    }
}
