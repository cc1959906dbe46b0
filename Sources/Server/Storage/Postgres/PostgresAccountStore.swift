import Foundation

/// The PostgreSQL `AccountStore`: the `accounts` table, one row per user, the `Account` as
/// JSON (the same encoding as the GDBM store's records) keyed by the username.
///
/// Every write is one statement in its own transaction, answered once its COMMIT has
/// returned: with PostgreSQL's default `synchronous_commit` that is after the WAL reached
/// the disk, so an account confirmed to a user survives a crash of the database or of
/// this server. Two servers creating one name at once: the primary key lets exactly one
/// in, the other is told the name is taken.
final class PostgresAccountStore: AccountStore {
    private let pool: PostgresPool

    /// Uses `pool`'s connections and threads; the store closes the pool.
    init(pool: PostgresPool) {
        self.pool = pool
    }

    func create(_ account: Account) async throws {
        let record = try Self.encode(account)
        let inserted = try await pool.run { connection in
            try connection.execute(
                "INSERT INTO accounts (username, record) VALUES ($1, $2::jsonb) ON CONFLICT (username) DO NOTHING",
                [account.username, record]
            ).affected
        }
        guard inserted == 1 else {
            throw AccountStoreError.usernameTaken(account.username)
        }
    }

    func find(username: String) async throws -> Account? {
        let record = try await pool.run { connection in
            try connection.execute("SELECT record::text FROM accounts WHERE username = $1", [username]).scalar
        }
        return try record.map { try Self.decode($0, username: username, database: pool.database) }
    }

    func update(_ account: Account) async throws {
        let record = try Self.encode(account)
        let updated = try await pool.run { connection in
            try connection.execute(
                "UPDATE accounts SET record = $2::jsonb WHERE username = $1", [account.username, record]
            ).affected
        }
        guard updated == 1 else {
            throw AccountStoreError.notFound(account.username)
        }
    }

    /// One transaction: the row is locked (`FOR UPDATE`) as it is read, so a change made
    /// meanwhile through another server waits, and the one made later starts from this one.
    func modify(username: String, _ change: @escaping @Sendable (inout Account) throws -> Void) async throws -> Account? {
        let database = pool.database
        return try await pool.run { connection -> Account? in
            try connection.transaction {
                guard
                    let record = try connection.execute(
                        "SELECT record::text FROM accounts WHERE username = $1 FOR UPDATE", [username]
                    ).scalar
                else {
                    return nil
                }
                var account = try Self.decode(record, username: username, database: database)
                try change(&account)
                try connection.execute(
                    "UPDATE accounts SET record = $2::jsonb WHERE username = $1", [username, try Self.encode(account)])
                return account
            }
        }
    }

    func delete(username: String) async throws -> Bool {
        try await pool.run { connection in
            try connection.execute("DELETE FROM accounts WHERE username = $1", [username]).affected == 1
        }
    }

    func all() async throws -> [Account] {
        let database = pool.database
        let rows = try await pool.run { connection in
            try connection.execute("SELECT username, record::text FROM accounts ORDER BY username COLLATE \"C\"").rows
        }
        return try rows.map { row in
            guard let username = row[0], let record = row[1] else {
                throw StorageError.corrupt("PostgreSQL database \(database): an account row cannot be read back")
            }
            return try Self.decode(record, username: username, database: database)
        }
    }

    func close() async {
        await pool.close()
    }

    // MARK: - Encoding

    private static func encode(_ account: Account) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(account), as: UTF8.self)
    }

    private static func decode(_ record: String, username: String, database: String) throws(StorageError) -> Account {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Account.self, from: Data(record.utf8))
        } catch {
            throw .corrupt("PostgreSQL database \(database): account record for \(username) cannot be decoded: \(error)")
        }
    }
}
