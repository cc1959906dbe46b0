/// Where accounts live: the GDBM file in production (`GDBMAccountStore`), a dictionary
/// in unit tests (`InMemoryAccountStore`).
///
/// The API is synchronous and may block on disk (every write is synced before it
/// returns): call it from a `NIOThreadPool`, never from an event loop. Implementations
/// serialise concurrent calls themselves. Usernames are the normalised form
/// (`Username.value`); the store does no case folding of its own.
protocol AccountStore: Sendable {
    /// Adds a new account, durably.
    ///
    /// - Throws: `AccountStoreError.usernameTaken` if the name exists; `StorageError`.
    func create(_ account: Account) throws

    /// The account named `username`, or nil if there is none.
    func find(username: String) throws -> Account?

    /// Replaces an existing account (for example after a password rehash), durably.
    ///
    /// - Throws: `AccountStoreError.notFound` if there is no such account; `StorageError`.
    func update(_ account: Account) throws

    /// Closes the store; later calls throw `StorageError.unavailable`. Calling it again does nothing.
    func close()
}
