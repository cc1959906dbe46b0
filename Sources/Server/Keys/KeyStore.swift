import Shared

/// Where users' published keys live, whatever the backend: a GDBM file or PostgreSQL tables
/// in production (picked through `StorageBackend`), a dictionary in unit tests
/// (`InMemoryKeyStore`).
///
/// One record per user: their identity key, registration id and signed prekey, and up to
/// `KeyRecord.maximumPreKeys` one-time prekeys. Every write is durable before its call
/// returns. Implementations run their blocking work on threads of their own and serialise
/// what must not interleave themselves: above all, each one-time prekey is handed out by
/// `takeBundle` at most once, however many calls run at once, on however many servers share
/// the store. Usernames are the normalised form (`Username.value`).
protocol KeyStore: Sendable {
    /// Publishes `keys` for `username`, durably. With no record, or one under another
    /// identity key, the record becomes `keys` (the old prekeys are dropped: they belong to
    /// an identity that is gone). Under the same identity key the registration id and the
    /// signed prekey are replaced and the one-time prekeys added (one with an id already
    /// stored replaces it).
    ///
    /// - Returns: how many one-time prekeys the user has now.
    /// - Throws: `KeyStoreError.tooManyPreKeys` when that would be more than
    ///   `KeyRecord.maximumPreKeys` (nothing is stored); `StorageError`.
    @discardableResult
    func publish(_ keys: PublishedKeys, username: String) async throws -> Int

    /// `username`'s keys with one of their one-time prekeys (the lowest id), which is removed,
    /// durably, before this returns, so it is never handed out again; nil when the user has
    /// no keys.
    ///
    /// - Throws: `StorageError`.
    func takeBundle(username: String) async throws -> KeyBundle?

    /// `username`'s identity key; nil when they have no keys.
    ///
    /// - Throws: `StorageError`.
    func identityKey(username: String) async throws -> [UInt8]?

    /// How many one-time prekeys `username` has; nil when they have no keys.
    ///
    /// - Throws: `StorageError`.
    func preKeyCount(username: String) async throws -> Int?

    /// Deletes `username`'s keys, durably (with the account, when it is deleted). Answers
    /// whether there were any.
    ///
    /// - Throws: `StorageError`.
    @discardableResult
    func deleteKeys(username: String) async throws -> Bool

    /// Closes the store; later calls throw `StorageError.unavailable`. Calling it again does
    /// nothing.
    func close() async
}

/// Failures of a `KeyStore` that are about the keys rather than storage.
enum KeyStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Publishing would leave the user with `resulting` one-time prekeys, more than the cap;
    /// nothing was stored.
    case tooManyPreKeys(resulting: Int)

    var description: String {
        switch self {
        case .tooManyPreKeys(let resulting):
            "too many one-time prekeys: this would make \(resulting), and at most \(KeyRecord.maximumPreKeys) "
                + "may be stored; nothing was stored"
        }
    }
}

/// What `KeyStore.takeBundle` hands out: a user's keys, one one-time prekey (nil when none
/// was left), and how many remain after it.
struct KeyBundle: Equatable, Sendable {
    var registrationID: Int
    var identityKey: [UInt8]
    var signedPreKey: PublishedSignedPreKey
    var preKey: PublishedPreKey?
    /// One-time prekeys the user has left after this one was taken.
    var remainingPreKeys: Int

    /// The bundle as the `keys` frame carries it.
    func published(username: String) -> PublishedBundle {
        PublishedBundle(
            username: username, registrationID: registrationID, identityKey: identityKey, signedPreKey: signedPreKey,
            preKey: preKey)
    }
}
