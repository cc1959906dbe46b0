/// Where accounts live, whatever the backend: GDBM files in production (picked through
/// `StorageBackend`), a dictionary in unit tests (`InMemoryAccountStore`).
///
/// Every write is durable before its call returns, so an account confirmed to a user
/// survives a crash or power loss. Implementations run their blocking work (disk I/O,
/// syncs) on threads of their own, never on the caller's, and serialise concurrent calls
/// themselves. Usernames are the normalised form (`Username.value`); the store does no case
/// folding of its own.
protocol AccountStore: Sendable {
    /// Adds a new account, durably.
    ///
    /// - Throws: `AccountStoreError.usernameTaken` if the name exists; `StorageError`.
    func create(_ account: Account) async throws

    /// The account named `username`, or nil if there is none.
    ///
    /// - Throws: `StorageError`.
    func find(username: String) async throws -> Account?

    /// Replaces an existing account (for example after a password rehash), durably.
    ///
    /// - Throws: `AccountStoreError.notFound` if there is no such account; `StorageError`.
    func update(_ account: Account) async throws

    /// Closes the store; later calls throw `StorageError.unavailable`. Calling it again does
    /// nothing.
    func close() async
}
