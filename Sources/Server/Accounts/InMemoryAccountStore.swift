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

    func modify(username: String, _ change: @escaping @Sendable (inout Account) throws -> Void) async throws -> Account? {
        try accounts.withLock { accounts throws in
            guard accounts != nil else {
                throw Self.closedError
            }
            guard var account = accounts?[username] else {
                return nil
            }
            try change(&account)
            accounts?[username] = account
            return account
        }
    }

    func delete(username: String) async throws -> Bool {
        try accounts.withLock { accounts throws in
            guard accounts != nil else {
                throw Self.closedError
            }
            return accounts?.removeValue(forKey: username) != nil
        }
    }

    func all() async throws -> [Account] {
        try accounts.withLock { accounts throws in
            guard let accounts else {
                throw Self.closedError
            }
            return accounts.values.sorted { $0.username < $1.username }
        }
    }

    func close() async {
        accounts.withLock { $0 = nil }
    }

    private static let closedError = StorageError.closed("the in-memory account store")
}
