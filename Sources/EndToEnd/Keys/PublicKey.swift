/// A Curve25519 public key in the Signal encoding: the type byte 0x05, then the 32-byte
/// Montgomery u-coordinate (33 bytes in all).
///
/// Stricter than libomemo-c's `curve_decode_point`, which also takes a bare 32-byte value as
/// an Ed25519 key (an OMEMO addition); the chat only ever sends the 33-byte form.
public struct PublicKey: Hashable, Sendable {
    /// The serialized key, 33 bytes.
    public let bytes: [UInt8]

    /// The length of a serialized key.
    public static let length = 33
    /// The type byte that starts every serialized Curve25519 key ("DJB type").
    static let typeByte: UInt8 = 0x05

    /// A key from its 33 serialized bytes; `.invalidKey` for any other length or type byte.
    public init(bytes: [UInt8]) throws(EncryptionError) {
        guard bytes.count == Self.length, bytes[0] == Self.typeByte else { throw .invalidKey }
        self.bytes = bytes
    }
}

/// A one-time prekey's public half, as a server hands it out in a bundle.
public struct OneTimePreKey: Hashable, Sendable {
    /// Its id, from 1 to 0xFFFFFE (libomemo-c reserves 0xFFFFFF).
    public let id: UInt32
    public let publicKey: PublicKey

    public init(id: UInt32, publicKey: PublicKey) {
        self.id = id
        self.publicKey = publicKey
    }
}

/// A signed prekey's public half and the identity key's XEdDSA signature over its 33
/// serialized bytes.
public struct SignedPreKey: Hashable, Sendable {
    public let id: UInt32
    public let publicKey: PublicKey
    /// The 64-byte XEdDSA signature.
    public let signature: [UInt8]

    /// The length of a signature.
    public static let signatureLength = 64

    /// A signed prekey; `.malformed` unless the signature is 64 bytes. Whether it verifies is
    /// checked when a session starts from the bundle.
    public init(id: UInt32, publicKey: PublicKey, signature: [UInt8]) throws(EncryptionError) {
        guard signature.count == Self.signatureLength else {
            throw .malformed("signed prekey \(id): a signature is \(Self.signatureLength) bytes, not \(signature.count)")
        }
        self.id = id
        self.publicKey = publicKey
        self.signature = signature
    }
}
