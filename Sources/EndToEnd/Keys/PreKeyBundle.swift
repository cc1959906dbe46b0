import Foundation

/// What a device publishes so that others can start a session with it while it is offline
/// (X3DH): its identity key, registration id, current signed prekey, and at most one
/// one-time prekey (a server hands each one out once).
public struct PreKeyBundle: Hashable, Sendable {
    public let registrationID: UInt32
    public let identityKey: IdentityKey
    public let signedPreKey: SignedPreKey
    /// Nil when the device has run out of one-time prekeys; X3DH then runs without one,
    /// which still works but loses the one-time key's protection against replayed first
    /// messages.
    public let oneTimePreKey: OneTimePreKey?

    public init(
        registrationID: UInt32, identityKey: IdentityKey, signedPreKey: SignedPreKey, oneTimePreKey: OneTimePreKey?
    ) {
        self.registrationID = registrationID
        self.identityKey = identityKey
        self.signedPreKey = signedPreKey
        self.oneTimePreKey = oneTimePreKey
    }
}

extension PreKeyBundle {
    /// The first byte of the wire form; a new layout gets a new number.
    static let wireFormat: UInt8 = 1

    /// The wire form, 140 bytes without a one-time prekey and 177 with one:
    ///
    ///     u8   format = 1
    ///     u32  registration id                  (all integers big-endian)
    ///     [33] identity key                     (0x05 || X25519 public key)
    ///     u32  signed prekey id
    ///     [33] signed prekey
    ///     [64] signed prekey signature          (XEdDSA by the identity key over the 33 bytes)
    ///     u8   1 if a one-time prekey follows, else 0
    ///     u32  one-time prekey id               (only if present)
    ///     [33] one-time prekey                  (only if present)
    public func serialized() -> [UInt8] {
        var writer = ByteWriter()
        writer.append(Self.wireFormat)
        writer.append(registrationID)
        writer.appendRaw(identityKey.bytes)
        writer.append(signedPreKey.id)
        writer.appendRaw(signedPreKey.publicKey.bytes)
        writer.appendRaw(signedPreKey.signature)
        if let oneTimePreKey {
            writer.append(UInt8(1))
            writer.append(oneTimePreKey.id)
            writer.appendRaw(oneTimePreKey.publicKey.bytes)
        } else {
            writer.append(UInt8(0))
        }
        return writer.bytes
    }

    /// Reads the wire form; `.malformed` or `.invalidKey` for anything else, trailing bytes
    /// included. The signature is checked later, when a session starts from the bundle.
    public init(serialized bytes: [UInt8]) throws(EncryptionError) {
        var reader = ByteReader(bytes, what: "prekey bundle")
        let format = try reader.readUInt8()
        guard format == Self.wireFormat else { throw .malformed("prekey bundle: unknown format \(format)") }
        registrationID = try reader.readUInt32()
        identityKey = try IdentityKey(bytes: reader.readRaw(count: PublicKey.length))
        let signedID = try reader.readUInt32()
        let signedKey = try PublicKey(bytes: reader.readRaw(count: PublicKey.length))
        signedPreKey = try SignedPreKey(
            id: signedID, publicKey: signedKey, signature: reader.readRaw(count: SignedPreKey.signatureLength)
        )
        switch try reader.readUInt8() {
        case 0:
            oneTimePreKey = nil
        case 1:
            let id = try reader.readUInt32()
            oneTimePreKey = try OneTimePreKey(id: id, publicKey: PublicKey(bytes: reader.readRaw(count: PublicKey.length)))
        default:
            throw .malformed("prekey bundle: the one-time prekey flag is neither 0 nor 1")
        }
        try reader.expectEnd()
    }

    /// The wire form in standard base64, for line-based frames.
    public func base64EncodedString() -> String {
        Data(serialized()).base64EncodedString()
    }

    /// Reads `base64EncodedString()`.
    public init(base64Encoded string: String) throws(EncryptionError) {
        guard let data = Data(base64Encoded: string) else { throw .malformed("prekey bundle: not base64") }
        try self.init(serialized: Array(data))
    }
}
