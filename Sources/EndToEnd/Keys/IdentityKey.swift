/// A device's long-term public identity key. Trust decisions and safety numbers are about
/// this key; a different one for the same peer means a new install or an attacker.
public struct IdentityKey: Hashable, Sendable, CustomStringConvertible {
    public let publicKey: PublicKey

    public init(_ publicKey: PublicKey) {
        self.publicKey = publicKey
    }

    /// A key from its 33 serialized bytes; `.invalidKey` otherwise.
    public init(bytes: [UInt8]) throws(EncryptionError) {
        publicKey = try PublicKey(bytes: bytes)
    }

    /// The serialized key, 33 bytes.
    public var bytes: [UInt8] { publicKey.bytes }

    /// Hex, for logs and test failures; users compare safety numbers instead.
    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
