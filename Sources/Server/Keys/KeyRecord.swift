import Shared

/// One user's stored keys, and the rules of publishing and taking them, written once: the
/// in-memory and GDBM stores keep a `KeyRecord` per user; the PostgreSQL store keeps the same
/// in two tables and applies the same rules in SQL (the parity tests hold them together).
struct KeyRecord: Equatable, Sendable {
    var registrationID: Int
    var identityKey: [UInt8]
    var signedPreKey: PublishedSignedPreKey
    /// One-time prekeys' public keys by id.
    var preKeys: [Int: [UInt8]]

    /// One-time prekeys a user may have stored: far more than a client keeps published (it
    /// tops up at a hundred or so), few enough that one user cannot fill the store.
    static let maximumPreKeys = 1_000

    /// The record after publishing `keys` over `existing` (see `KeyStore.publish`).
    ///
    /// - Throws: `KeyStoreError.tooManyPreKeys` past `maximumPreKeys`.
    static func publishing(_ keys: PublishedKeys, over existing: KeyRecord?) throws(KeyStoreError) -> KeyRecord {
        var record = KeyRecord(
            registrationID: keys.registrationID, identityKey: keys.identityKey, signedPreKey: keys.signedPreKey,
            preKeys: [:])
        // Prekeys of another identity are useless to anyone who fetches them now.
        if let existing, existing.identityKey == keys.identityKey {
            record.preKeys = existing.preKeys
        }
        for preKey in keys.preKeys {
            record.preKeys[preKey.id] = preKey.publicKey
        }
        guard record.preKeys.count <= maximumPreKeys else {
            throw .tooManyPreKeys(resulting: record.preKeys.count)
        }
        return record
    }

    /// Removes the one-time prekey with the lowest id (if any) and returns the bundle
    /// handing it out.
    mutating func take() -> KeyBundle {
        let preKey = preKeys.keys.min().map { id in PublishedPreKey(id: id, publicKey: preKeys.removeValue(forKey: id)!) }
        return KeyBundle(
            registrationID: registrationID, identityKey: identityKey, signedPreKey: signedPreKey, preKey: preKey,
            remainingPreKeys: preKeys.count)
    }
}
