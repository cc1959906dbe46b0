import Foundation

/// One encrypted message as it travels: its kind and libomemo-c's serialized bytes.
public struct EncryptedMessage: Hashable, Sendable {
    /// Which of the two Signal message types the body is. The raw values are libomemo-c's
    /// `CIPHERTEXT_SIGNAL_TYPE` and `CIPHERTEXT_PREKEY_TYPE`.
    public enum Kind: UInt8, Sendable {
        /// A Double Ratchet message (`SignalMessage`) in an established session.
        case normal = 2
        /// A `PreKeySignalMessage`: the X3DH header (registration id, one-time and signed
        /// prekey ids, base key, identity key) around a `SignalMessage`. The sender sends
        /// this kind until the first reply arrives.
        case preKey = 3
    }

    public let kind: Kind
    /// libomemo-c's serialization: the version byte 0x33, a protobuf, and (in the inner
    /// `SignalMessage`) an 8-byte truncated HMAC-SHA256.
    public let body: [UInt8]

    public init(kind: Kind, body: [UInt8]) {
        self.kind = kind
        self.body = body
    }

    /// The wire form: one byte, the kind's raw value (2 or 3), then the body.
    public func serialized() -> [UInt8] {
        [kind.rawValue] + body
    }

    /// Reads the wire form; `.malformed` if the kind byte is unknown or there is no body.
    public init(serialized bytes: [UInt8]) throws(EncryptionError) {
        guard let first = bytes.first, let kind = Kind(rawValue: first) else {
            throw .malformed("encrypted message: unknown kind byte")
        }
        guard bytes.count > 1 else { throw .malformed("encrypted message: no body") }
        self.kind = kind
        body = Array(bytes.dropFirst())
    }

    /// The wire form in standard base64, for line-based frames.
    public func base64EncodedString() -> String {
        Data(serialized()).base64EncodedString()
    }

    /// Reads `base64EncodedString()`.
    public init(base64Encoded string: String) throws(EncryptionError) {
        guard let data = Data(base64Encoded: string) else { throw .malformed("encrypted message: not base64") }
        try self.init(serialized: Array(data))
    }
}
