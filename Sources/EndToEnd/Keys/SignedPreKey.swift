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
