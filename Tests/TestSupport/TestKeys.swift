import Shared

/// Made-up keys of the right shapes for the key frames and stores: the server checks shapes
/// only, so no real Signal keys are needed. The same seed gives the same bytes.
public enum TestKeys {
    /// A public key: 0x05, then 32 bytes drawn from `seed`.
    public static func publicKey(_ seed: Int) -> [UInt8] {
        [0x05] + bytes(seed, count: PublishedKeys.publicKeyLength - 1)
    }

    /// A 64-byte stand-in for a signature.
    public static func signature(_ seed: Int) -> [UInt8] {
        bytes(seed &+ 0x5151, count: PublishedKeys.signatureLength)
    }

    /// A device's keys: the identity key of seed `identity`, signed prekey `signedID`, and
    /// the one-time prekeys `preKeys` (each id's key drawn from the identity and the id).
    public static func keys(
        identity: Int = 1, registrationID: Int = 1_234, signedID: Int = 1, preKeys: some Sequence<Int> = 1...20
    ) -> PublishedKeys {
        PublishedKeys(
            registrationID: registrationID, identityKey: publicKey(identity),
            signedPreKey: PublishedSignedPreKey(
                id: signedID, publicKey: publicKey(identity &* 1_000 &+ signedID), signature: signature(identity &+ signedID)),
            preKeys: preKeys.map { preKey($0, identity: identity) })
    }

    /// One-time prekey `id` of the device with identity seed `identity`, as `keys` makes it.
    public static func preKey(_ id: Int, identity: Int = 1) -> PublishedPreKey {
        PublishedPreKey(id: id, publicKey: publicKey(identity &* 1_000_003 &+ id &* 7 &+ 500))
    }

    private static func bytes(_ seed: Int, count: Int) -> [UInt8] {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x2545_F491_4F6C_DD1D
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }
}

extension PublishedKeys {
    /// These keys as a `keys` frame hands them out, with `preKey`.
    public func bundle(username: String, preKey: PublishedPreKey?) -> PublishedBundle {
        PublishedBundle(
            username: username, registrationID: registrationID, identityKey: identityKey, signedPreKey: signedPreKey,
            preKey: preKey)
    }
}
