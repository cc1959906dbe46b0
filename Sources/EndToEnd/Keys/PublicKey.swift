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
