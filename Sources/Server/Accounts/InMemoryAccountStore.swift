import Shared

/// An `AccountStore` in a dictionary, for unit tests: the same semantics as the GDBM store
/// (taken names, missing accounts, use after close) without a disk.
final class InMemoryAccountStore: AccountStore {
    /// The accounts by username; nil once closed.
    private let accounts = Locked<[String: Account]?>([:])

    /// Creates an empty store.
    init() {}

    func create(_ account: Account) async throws {
        try accounts.withLock { accounts throws in
            guard accounts != nil else {
                throw Self.closedError
            }
            guard accounts?[account.username] == nil else {
                throw AccountStoreError.usernameTaken(account.username)
            }
            accounts?[account.username] = account
        }
    }

    func find(username: String) async throws -> Account? {
        try accounts.withLock { accounts throws in
            guard let accounts else {
                throw Self.closedError
            }
            return accounts[username]
        }
    }

    func update(_ account: Account) async throws {
        try accounts.withLock { accounts throws in
            guard accounts != nil else {
                throw Self.closedError
            }
            guard accounts?[account.username] != nil else {
                throw AccountStoreError.notFound(account.username)
            }
            accounts?[account.username] = account
        }
    }

    func close() async {
        accounts.withLock { $0 = nil }
    }

    private static let closedError = StorageError.closed("the in-memory account store")
}
