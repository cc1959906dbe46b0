import Shared
import Synchronization

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
/// Several servers on one database each keep a copy: every publish or deletion is announced
/// with the identity key it left (`announce`, a message to the other nodes once the store has
/// the change), and a node told of a key other than its copy's forgets the copy
/// (`changedElsewhere`), so its next `send` to that user is refused until `chat` reads the
/// new key; a top-up of prekeys under the same identity changes nothing. Between the store's
/// change and the message's arrival (milliseconds) another node may still accept a send for
/// the old key, as a send racing the publish on one server could.
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
    /// Bumped (under the copy's lock) whenever a copied identity changes or is dropped: a
    /// check that found a key unchanged at one count holds until the count moves, so `send`
    /// need not look the key up again for every message (see `changeCount`).
    private let changes = Atomic<UInt64>(0)
    /// Publishes and deletions for one user, one at a time, so the copy ends as the store
    /// does even when two sessions of the user publish at once.
    private let writes = KeyedSerialGate()

    /// Tells the other nodes that a user's keys changed in the store, and to what identity.
    private let announce: @Sendable (_ username: String, _ identity: AnnouncedIdentity) -> Void

    init(
        store: any KeyStore,
        announce: @escaping @Sendable (_ username: String, _ identity: AnnouncedIdentity) -> Void = { _, _ in }
    ) {
        self.store = store
        self.announce = announce
    }

    /// What the copy knows of `username`'s identity key, without touching the store; nil
    /// when it was never looked up.
    func cachedIdentity(of username: String) -> KnownIdentity? {
        copy.withLock { $0.identities[username] }
    }

    /// How many times a copied identity has changed or been dropped. Read it before
    /// `cachedIdentity(of:)`: while it stays the same, that answer stays true. (A load of a
    /// user not copied yet does not count: it changes no answer anyone relied on, since an
    /// identity not in the copy never matches.)
    var changeCount: UInt64 {
        changes.load(ordering: .acquiring)
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
                copy.withLock { copy in
                    copy.identities[username] = KnownIdentity(key: keys.identityKey)
                    changes.add(1, ordering: .releasing)
                }
                announce(username, .key(keys.identityKey))
                return count
            } catch let error as KeyStoreError {
                throw error
            } catch {
                // The store may or may not hold the new key now: forget the copy's, so the
                // next `chat` reads what the store really has (here and on the other nodes).
                forget(username)
                announce(username, .unknown)
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
                copy.withLock { copy in
                    copy.identities[username] = KnownIdentity(key: nil)
                    changes.add(1, ordering: .releasing)
                }
                announce(username, .none)
                return deleted
            } catch {
                forget(username)
                announce(username, .unknown)
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

    /// Another node changed `username`'s keys, leaving `identity`: a copy of another key is
    /// dropped, so the next `chat` reads the store and, until then, `send` to them is refused.
    func changedElsewhere(_ username: String, identity: AnnouncedIdentity) {
        let known: KnownIdentity
        switch identity {
        case .unknown: return forget(username)
        case .none: known = KnownIdentity(key: nil)
        case .key(let key): known = KnownIdentity(key: key)
        }
        copy.withLock { copy in
            // Not cached: a load running now may have read the old key, and must not keep it.
            guard copy.identities[username] != known else { return }
            copy.identities[username] = nil
            copy.generation &+= 1
            changes.add(1, ordering: .releasing)
        }
    }

    private func forget(_ username: String) {
        copy.withLock { copy in
            copy.identities[username] = nil
            copy.generation &+= 1
            changes.add(1, ordering: .releasing)
        }
    }

    /// Drops every copied key (changes announced meanwhile may have been missed).
    func forgetAll() {
        copy.withLock { copy in
            copy.identities.removeAll()
            copy.generation &+= 1
            changes.add(1, ordering: .releasing)
        }
    }
}
