import Foundation

/// Prekeys: what a device publishes so that others can start sessions with it.
extension LocalDevice {
    /// The highest prekey id; libomemo-c reserves 0xFFFFFF and its key helper wraps to 1.
    static let maximumPreKeyID: UInt32 = 0xFF_FFFE

    /// Sets up a new device's prekeys: a first signed prekey (unless one exists) and
    /// `preKeyCount` one-time prekeys.
    public func generateKeys(preKeyCount: Int = 100, now: Date = Date()) throws(EncryptionError) {
        if try storeCall({ stores.signedPreKeys.currentSignedPreKeyID }) == nil {
            _ = try rotateSignedPreKey(now: now)
        }
        _ = try generatePreKeys(count: preKeyCount)
    }

    /// `count` new one-time prekeys with ids following the last ones (1 after 0xFFFFFE);
    /// returns their public halves for the server.
    public func generatePreKeys(count: Int) throws(EncryptionError) -> [OneTimePreKey] {
        precondition(count >= 0 && count < Int(Self.maximumPreKeyID), "prekey count out of range")
        guard count > 0 else { return [] }
        let stored = try storeCall { stores.preKeys.nextPreKeyID }
        let first = (1...Self.maximumPreKeyID).contains(stored) ? stored : 1
        let generated = try engine.context.generatePreKeys(firstID: first, count: count)
        try storeCall {
            for preKey in generated {
                try stores.preKeys.storePreKeyRecord(preKey.record, id: preKey.key.id)
            }
            stores.preKeys.nextPreKeyID = UInt32((UInt64(first) - 1 + UInt64(count)) % UInt64(Self.maximumPreKeyID)) + 1
        }
        return generated.map(\.key)
    }

    /// The public halves of every one-time prekey not used up yet, by id.
    public func oneTimePreKeys() throws(EncryptionError) -> [OneTimePreKey] {
        let records = try storeCall { try stores.preKeys.preKeyIDs().compactMap { try stores.preKeys.preKeyRecord(id: $0) } }
        var keys: [OneTimePreKey] = []
        for record in records {
            keys.append(try engine.context.oneTimePreKey(record: record))
        }
        return keys
    }

    /// Makes a new signed prekey, with the next id, and advertises it from now on. The old
    /// ones stay, so that prekey messages still in flight decrypt, until
    /// `pruneSignedPreKeys(retiredBefore:)` removes them.
    public func rotateSignedPreKey(now: Date = Date()) throws(EncryptionError) -> SignedPreKey {
        let (ids, current, identity) = try storeCall {
            (try stores.signedPreKeys.signedPreKeyIDs(), stores.signedPreKeys.currentSignedPreKeyID,
             try stores.identity.localIdentity())
        }
        let last = current ?? ids.last ?? 0
        let id = last >= Self.maximumPreKeyID ? 1 : last + 1
        let generated = try engine.context.generateSignedPreKey(identity: identity, id: id, timestamp: milliseconds(now))
        try storeCall {
            try stores.signedPreKeys.storeSignedPreKeyRecord(generated.record, id: id)
            stores.signedPreKeys.currentSignedPreKeyID = id
        }
        return generated.key
    }

    /// The signed prekey that bundles advertise.
    public func currentSignedPreKey() throws(EncryptionError) -> SignedPreKey {
        guard let id = try storeCall({ stores.signedPreKeys.currentSignedPreKeyID }),
              let record = try storeCall({ try stores.signedPreKeys.signedPreKeyRecord(id: id) })
        else { throw .invalidKeyID }
        return try engine.context.signedPreKey(record: record).key
    }

    /// Removes the signed prekeys replaced before `cutoff` (a key is retired when the next
    /// one is made). The current one always stays. Returns the removed ids.
    @discardableResult
    public func pruneSignedPreKeys(retiredBefore cutoff: Date) throws(EncryptionError) -> [UInt32] {
        let (ids, current) = try storeCall { (try stores.signedPreKeys.signedPreKeyIDs(), stores.signedPreKeys.currentSignedPreKeyID) }
        var made: [(id: UInt32, timestamp: UInt64)] = []
        for id in ids {
            guard let record = try storeCall({ try stores.signedPreKeys.signedPreKeyRecord(id: id) }) else { continue }
            made.append((id, try engine.context.signedPreKey(record: record).timestamp))
        }
        // Ids wrap, timestamps do not: order by when each key was made.
        made.sort { ($0.timestamp, $0.id) < ($1.timestamp, $1.id) }
        let limit = milliseconds(cutoff)
        var removed: [UInt32] = []
        for (index, key) in made.enumerated().dropLast() where key.id != current && made[index + 1].timestamp < limit {
            try storeCall { try stores.signedPreKeys.removeSignedPreKey(id: key.id) }
            removed.append(key.id)
        }
        return removed
    }

    /// The bundle to publish: identity, registration id, the current signed prekey, and the
    /// one-time prekey `oneTimePreKeyID` (default: the lowest id still unused; none if all
    /// are used up).
    public func publicBundle(oneTimePreKeyID: UInt32? = nil) throws(EncryptionError) -> PreKeyBundle {
        let identity = try storeCall { try stores.identity.localIdentity() }
        var preKeyID = oneTimePreKeyID
        if preKeyID == nil {
            preKeyID = try storeCall { try stores.preKeys.preKeyIDs().first }
        }
        var oneTimePreKey: OneTimePreKey?
        if let preKeyID {
            guard let record = try storeCall({ try stores.preKeys.preKeyRecord(id: preKeyID) }) else {
                throw .invalidKeyID
            }
            oneTimePreKey = try engine.context.oneTimePreKey(record: record)
        }
        return PreKeyBundle(
            registrationID: identity.registrationID, identityKey: identity.identityKey,
            signedPreKey: try currentSignedPreKey(), oneTimePreKey: oneTimePreKey
        )
    }
}

/// Milliseconds since 1970, as libomemo-c stamps signed prekeys.
private func milliseconds(_ date: Date) -> UInt64 {
    UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded()))
}
