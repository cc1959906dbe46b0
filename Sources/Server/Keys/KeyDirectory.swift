import Shared

/// Users' published keys as the rest of the server sees them: the `KeyStore`, behind an
/// in-memory copy of every identity key looked up or published through here.
///
/// The copy is for `send`, which refuses a message once the partner's identity key is no
/// longer the one `chat` reported, and must not wait for the disk to find out. `chat` loads
/// the partner's key into the copy (`identityKey(for:)`), and every publish or deletion
/// through here updates it after the store has the change, so on one server the copy is
/// exactly the store. Entries are small (a name and 33 bytes) and are kept for the server's
/// life.
///
/// Several servers on one PostgreSQL database do not see each other's publishes: a user who
/// republishes through server A leaves server B's copy stale, and B's `send` checks against
/// the old key until B restarts. Spreading publishes between servers (as presence will have
/// to be spread) is for when servers share more than the database.
final class KeyDirectory: Sendable {
    /// An identity key as the copy knows it: `key` nil means the user has published none.
    struct KnownIdentity: Equatable, Sendable {
        let key: [UInt8]?
    }

    private struct Copy {
        var identities: [String: KnownIdentity] = [:]
        /// Bumped whenever an entry is dropped, so a load that read the store before the
        /// drop does not put back what was dropped.
        var generation: UInt64 = 0
    }

    /// The store behind the copy.
    let store: any KeyStore
    private let copy = Locked(Copy())
    /// Publishes and deletions for one user, one at a time, so the copy ends as the store
    /// does even when two sessions of the user publish at once.
    private let writes = KeyedSerialGate()

    init(store: any KeyStore) {
        self.store = store
    }

    /// What the copy knows of `username`'s identity key, without touching the store; nil
    /// when it was never looked up.
    func cachedIdentity(of username: String) -> KnownIdentity? {
        copy.withLock { $0.identities[username] }
    }

    /// `username`'s identity key (nil when they have published none): from the copy, or
    /// read from the store into it.
    ///
    /// - Throws: `StorageError`.
    func identityKey(for username: String) async throws -> [UInt8]? {
        let generation: UInt64
        switch copy.withLock({ ($0.identities[username], $0.generation) }) {
        case (let known?, _):
            return known.key
        case (nil, let current):
            generation = current
        }
        let key = try await store.identityKey(username: username)
        return copy.withLock { copy in
            // A publish that finished meanwhile has put the newer key in: that one counts.
            if let known = copy.identities[username] {
                return known.key
            }
            if copy.generation == generation {
                copy.identities[username] = KnownIdentity(key: key)
            }
            return key
        }
    }

    /// Publishes `keys` for `username` (see `KeyStore.publish`) and updates the copy.
    ///
    /// - Returns: the one-time prekeys the user has now.
    /// - Throws: `KeyStoreError`; `StorageError`.
    func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
        try await writes.run(username) {
            do {
                let count = try await store.publish(keys, username: username)
                copy.withLock { $0.identities[username] = KnownIdentity(key: keys.identityKey) }
                return count
            } catch let error as KeyStoreError {
                throw error
            } catch {
                // The store may or may not hold the new key now: forget the copy's, so the
                // next `chat` reads what the store really has.
                forget(username)
                throw error
            }
        }
    }

    /// Deletes `username`'s keys (see `KeyStore.deleteKeys`) and updates the copy.
    ///
    /// - Throws: `StorageError`.
    @discardableResult
    func deleteKeys(username: String) async throws -> Bool {
        try await writes.run(username) {
            do {
                let deleted = try await store.deleteKeys(username: username)
                copy.withLock { $0.identities[username] = KnownIdentity(key: nil) }
                return deleted
            } catch {
                forget(username)
                throw error
            }
        }
    }

    /// See `KeyStore.takeBundle`.
    func takeBundle(username: String) async throws -> KeyBundle? {
        try await store.takeBundle(username: username)
    }

    /// See `KeyStore.preKeyCount`.
    func preKeyCount(username: String) async throws -> Int? {
        try await store.preKeyCount(username: username)
    }

    private func forget(_ username: String) {
        copy.withLock { copy in
            copy.identities[username] = nil
            copy.generation &+= 1
        }
    }
}
