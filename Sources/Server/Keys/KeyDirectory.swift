import Shared
import Synchronization

/// Users' published keys as the rest of the server sees them: the `KeyStore`, behind an
/// in-memory copy of every identity key looked up or published through here.
///
/// The copy is for `send`, which refuses a message once the partner's identity key is no
/// longer the one `chat` reported, and must not wait for the disk to find out. `chat` (and
/// login, for the user's own key) reads the key from the store into the copy
/// (`identityKey(for:)`), and every publish or deletion through here updates it after the
/// store has the change, so on one server the copy is exactly the store. Entries are small
/// (a name and 33 bytes) and are kept for the server's life.
///
/// Several servers on one database each keep a copy: every publish or deletion is announced
/// with the identity key it left (`announce`, a message to the other nodes once the store has
/// the change), and a node told of a key other than its copy's forgets the copy
/// (`changedElsewhere`), so its next `send` to that user is refused until `chat` reads the
/// new key; a top-up of prekeys under the same identity changes nothing. Between the store's
/// change and the message's arrival (milliseconds) another node may still accept a send for
/// the old key, as a send racing the publish on one server could. `chat` and login read the
/// store rather than the copy for that reason: a copy not yet told of a publish elsewhere
/// would report the old key (or none) to a client that has just been told otherwise.
final class KeyDirectory: Sendable {
    /// An identity key as the copy knows it: `key` nil means the user has published none.
    struct KnownIdentity: Equatable, Sendable {
        let key: [UInt8]?
    }

    private struct Copy {
        var identities: [String: KnownIdentity] = [:]
        /// Counts changes to entries, so a read of the store knows whether its user's entry
        /// changed while it ran: a publish meanwhile put a newer key in (which counts), or an
        /// announced change dropped it (the read may be older: read again). Per user, since
        /// a cluster announces every publish and other users' changes say nothing.
        var changes: UInt64 = 0
        /// `changes` at each user's last change (small, like `identities`).
        var changedAt: [String: UInt64] = [:]
        /// `changes` when every entry was dropped last.
        var allDroppedAt: UInt64 = 0

        /// Whether `username`'s entry changed after `changes` was `since`.
        func changed(_ username: String, since: UInt64) -> Bool {
            max(changedAt[username] ?? 0, allDroppedAt) > since
        }

        /// Sets (or with nil drops) `username`'s entry.
        mutating func set(_ known: KnownIdentity?, for username: String) {
            changes += 1
            identities[username] = known
            changedAt[username] = changes
        }

        mutating func dropAll() {
            changes += 1
            identities.removeAll()
            changedAt.removeAll()
            allDroppedAt = changes
        }
    }

    /// The store behind the copy.
    let store: any KeyStore
    private let copy = Locked(Copy())
    /// `copy`'s change count, readable without its lock: a check that found a key unchanged
    /// at one count holds until the count moves, so `send` need not look the key up again
    /// for every message (see `changeCount`). Stored under the copy's lock by `change`.
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

    /// Moves whenever a copied identity changes or is dropped. Read it before
    /// `cachedIdentity(of:)`: while it stays the same, that answer stays true.
    var changeCount: UInt64 {
        changes.load(ordering: .acquiring)
    }

    /// Changes the copy under its lock and publishes its new change count.
    private func change<Result>(_ body: (inout Copy) -> Result) -> Result {
        copy.withLock { copy in
            let before = copy.changes
            let result = body(&copy)
            if copy.changes != before { changes.store(copy.changes, ordering: .releasing) }
            return result
        }
    }

    /// `username`'s identity key (nil when they have published none), read from the store
    /// into the copy.
    ///
    /// An entry dropped while the store was read (another node announced a change) may be
    /// newer than what was read, so the read is not kept; it is made again, since the
    /// announcement comes after the change was committed and a read started after it sees
    /// the change. After `loadAttempts` reads overtaken that way the key is returned
    /// without a copy (and `send` refuses until the next `chat`).
    ///
    /// - Throws: `StorageError`.
    func identityKey(for username: String) async throws -> [UInt8]? {
        var key: [UInt8]?
        for _ in 0..<Self.loadAttempts {
            let started = copy.withLock { $0.changes }
            key = try await store.identityKey(username: username)
            let kept = copy.withLock { copy -> KnownIdentity? in
                guard copy.changed(username, since: started) else {
                    let known = KnownIdentity(key: key)
                    if let previous = copy.identities[username] {
                        if previous != known {
                            copy.set(known, for: username)
                            changes.store(copy.changes, ordering: .releasing)
                        }
                    } else {
                        // A first copy changes no answer `send` relied on: an identity not
                        // copied never matches, so the public count need not move.
                        copy.set(known, for: username)
                    }
                    return known
                }
                // A publish that finished meanwhile has put the newer key in: that one counts.
                return copy.identities[username]
            }
            if let kept { return kept.key }
        }
        return key
    }

    /// Reads of one identity key before `identityKey(for:)` gives up keeping it (each one
    /// overtaken by an announced change).
    static let loadAttempts = 3

    /// Publishes `keys` for `username` (see `KeyStore.publish`) and updates the copy.
    ///
    /// - Returns: the one-time prekeys the user has now.
    /// - Throws: `KeyStoreError`; `StorageError`.
    func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
        try await writes.run(username) {
            do {
                let count = try await store.publish(keys, username: username)
                change { $0.set(KnownIdentity(key: keys.identityKey), for: username) }
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
                change { $0.set(KnownIdentity(key: nil), for: username) }
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
        change { copy in
            // Not cached: a load running now may have read the old key, and must not keep it.
            guard copy.identities[username] != known else { return }
            copy.set(nil, for: username)
        }
    }

    private func forget(_ username: String) {
        change { $0.set(nil, for: username) }
    }

    /// Drops every copied key (changes announced meanwhile may have been missed).
    func forgetAll() {
        change { $0.dropAll() }
    }
}
