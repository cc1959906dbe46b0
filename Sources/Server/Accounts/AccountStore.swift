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

    /// Replaces an existing account, durably.
    ///
    /// - Throws: `AccountStoreError.notFound` if there is no such account; `StorageError`.
    func update(_ account: Account) async throws

    /// Reads the account named `username`, applies `change` and writes the result back,
    /// durably, with no other write to that account in between (on any server sharing the
    /// store): a login recording its time cannot undo a lock made meanwhile. `change` may
    /// throw to leave the account as it was; the error is rethrown. The username cannot
    /// change.
    ///
    /// - Returns: the account as written; nil (and `change` not called) if there is none.
    /// - Throws: what `change` threw; `StorageError`.
    func modify(username: String, _ change: @escaping @Sendable (inout Account) throws -> Void) async throws -> Account?

    /// Deletes the account named `username`, durably; false if there was none.
    ///
    /// - Throws: `StorageError`.
    @discardableResult
    func delete(username: String) async throws -> Bool

    /// Every account, sorted by username (for the operator's listing: it reads them all).
    ///
    /// - Throws: `StorageError`.
    func all() async throws -> [Account]

    /// Closes the store; later calls throw `StorageError.unavailable`. Calling it again does
    /// nothing.
    func close() async
}
