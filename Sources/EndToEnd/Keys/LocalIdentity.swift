/// This device's identity: its identity key pair and its registration id, made once at install
/// time. The private key never leaves the stores and this value.
public struct LocalIdentity: Hashable, Sendable, CustomStringConvertible {
    public let identityKey: IdentityKey
    /// The 32-byte Curve25519 private key (clamped).
    let privateKey: [UInt8]
    /// A random number from 1 to 16380 that libomemo-c sends in prekey messages.
    public let registrationID: UInt32

    init(identityKey: IdentityKey, privateKey: [UInt8], registrationID: UInt32) {
        self.identityKey = identityKey
        self.privateKey = privateKey
        self.registrationID = registrationID
    }

    /// A new identity key pair and registration id, from libomemo-c's key helper with
    /// randomness from OpenSSL.
    public static func generate() throws(EncryptionError) -> LocalIdentity {
        try SignalContext().generateIdentity()
    }

    /// The public half only: a printed identity must not leak the private key.
    public var description: String {
        "LocalIdentity(identityKey: \(identityKey), registrationID: \(registrationID))"
    }

    /// Format byte of `serialized()`.
    private static let format: UInt8 = 1

    /// Stable bytes for the client's own encrypted storage: format 1, then the 33-byte public
    /// key, the 32-byte private key and the registration id (big-endian u32). Secret.
    public func serialized() -> [UInt8] {
        var writer = ByteWriter()
        writer.append(Self.format)
        writer.appendRaw(identityKey.bytes)
        writer.appendRaw(privateKey)
        writer.append(registrationID)
        return writer.bytes
    }

    /// Reads what `serialized()` wrote.
    public init(serialized: [UInt8]) throws(EncryptionError) {
        var reader = ByteReader(serialized, what: "local identity")
        guard try reader.readUInt8() == Self.format else { throw .malformed("local identity: unknown format") }
        identityKey = try IdentityKey(bytes: reader.readRaw(count: PublicKey.length))
        privateKey = try reader.readRaw(count: 32)
        registrationID = try reader.readUInt32()
        try reader.expectEnd()
    }
}
