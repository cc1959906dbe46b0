/// The public keys one user's device publishes for end-to-end encryption, as `publish_keys`
/// carries them: what others need to start a Signal session with the device while it is
/// offline (X3DH).
///
/// The server checks only the shapes here (lengths, ranges, counts); it cannot verify the
/// signed prekey's XEdDSA signature, so clients verify it when they start a session.
public struct PublishedKeys: Hashable, Sendable {
    /// The device's registration id, in `registrationIDs`.
    public var registrationID: Int
    /// The identity key: `publicKeyLength` bytes (0x05, then the X25519 key).
    public var identityKey: [UInt8]
    /// The current signed prekey.
    public var signedPreKey: PublishedSignedPreKey
    /// One-time prekeys to add (or, with a new identity key, to start over with); at most
    /// `maximumPreKeysPerFrame`, each id once.
    public var preKeys: [PublishedPreKey]

    public init(
        registrationID: Int, identityKey: [UInt8], signedPreKey: PublishedSignedPreKey, preKeys: [PublishedPreKey]
    ) {
        self.registrationID = registrationID
        self.identityKey = identityKey
        self.signedPreKey = signedPreKey
        self.preKeys = preKeys
    }

    /// Bytes of a public key (identity, signed prekey, one-time prekey): a type byte, 0x05,
    /// then the 32-byte X25519 key.
    public static let publicKeyLength = 33
    /// Bytes of an XEdDSA signature.
    public static let signatureLength = 64
    /// The registration ids libsignal makes (`generate_registration_id` without the extended
    /// range).
    public static let registrationIDs = 1...16_380
    /// Prekey ids, signed and one-time: libsignal's are 24-bit.
    public static let preKeyIDs = 0...0xFF_FFFF
    /// One-time prekeys one `publish_keys` may carry; a client tops up in several frames.
    /// 200 of them make a frame of about 15 KB, well inside the frame limit.
    public static let maximumPreKeysPerFrame = 200
}

/// A signed prekey's public half, with the identity key's XEdDSA signature over its 33 bytes.
public struct PublishedSignedPreKey: Hashable, Sendable {
    /// Its id, in `PublishedKeys.preKeyIDs`.
    public var id: Int
    /// `PublishedKeys.publicKeyLength` bytes.
    public var publicKey: [UInt8]
    /// `PublishedKeys.signatureLength` bytes.
    public var signature: [UInt8]

    public init(id: Int, publicKey: [UInt8], signature: [UInt8]) {
        self.id = id
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// A one-time prekey's public half. The server hands each out at most once.
public struct PublishedPreKey: Hashable, Sendable {
    /// Its id, in `PublishedKeys.preKeyIDs`.
    public var id: Int
    /// `PublishedKeys.publicKeyLength` bytes.
    public var publicKey: [UInt8]

    public init(id: Int, publicKey: [UInt8]) {
        self.id = id
        self.publicKey = publicKey
    }
}

/// What `fetch_keys` answers (the `keys` frame): one user's published keys with at most one
/// of their one-time prekeys, which the server has removed so no one else gets it.
public struct PublishedBundle: Hashable, Sendable {
    /// Whose keys these are (canonical, lower case).
    public var username: String
    /// Their device's registration id.
    public var registrationID: Int
    /// Their identity key.
    public var identityKey: [UInt8]
    /// Their current signed prekey.
    public var signedPreKey: PublishedSignedPreKey
    /// One of their one-time prekeys; nil when they have none left (X3DH then runs without
    /// one).
    public var preKey: PublishedPreKey?

    public init(
        username: String, registrationID: Int, identityKey: [UInt8], signedPreKey: PublishedSignedPreKey,
        preKey: PublishedPreKey?
    ) {
        self.username = username
        self.registrationID = registrationID
        self.identityKey = identityKey
        self.signedPreKey = signedPreKey
        self.preKey = preKey
    }
}
