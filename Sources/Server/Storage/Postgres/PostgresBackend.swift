import Logging
import NIOPosix

/// Opens the PostgreSQL backend: connects, brings the schema up to date (or refuses a newer
/// one), and opens the account, inbox, key and file stores, the shared presence directory
/// and the ledger of failed logins on the database.
///
/// The only entry to `Storage/Postgres/` from outside it (`StorageBackend.open`). Unlike
/// GDBM's data directory, the database may be shared by several servers at once.
enum PostgresBackend {
    /// Threads (each with its connection) for account calls and inbox reads; the inbox's
    /// writes have a thread and a connection of their own.
    static let poolThreads = 4
    /// Threads (each with its connection) for the key store: its calls are few (a publish
    /// per install or top-up, a fetch per new conversation), so fewer than the accounts'.
    static let keyPoolThreads = 2
    /// Threads (each with its connection) for the file store: an upload's chunks come one
    /// after another, so two serve an upload and a download at once.
    static let filePoolThreads = 2

    /// Opens the stores in the database at `location`.
    ///
    /// - Throws: `StorageError` with a sentence for the operator: `.unavailable` when the
    ///   database cannot be reached or refuses the login, `.corrupt` when its schema is
    ///   newer than this server knows.
    static func open(_ location: PostgresLocation, inboxLimits: InboxLimits, logger: Logger) async throws -> Stores {
        let database = location.description
        let outcome = try await NIOThreadPool.singleton.runIfActive { () throws -> PostgresSchema.Outcome in
            do {
                let connection = try PostgresConnection(location.connectionString)
                return try PostgresSchema.migrate(connection, database: database)
            } catch let error as PostgresError {
                throw StorageError(error, database: database)
            }
        }
        if outcome.from != outcome.to {
            logger.notice("PostgreSQL database \(database): schema migrated from version \(outcome.from) to \(outcome.to)")
        }
        logger.info("storing accounts, inboxes, keys and files in PostgreSQL database \(database) (schema version \(outcome.to))")
        let accounts = PostgresAccountStore(pool: PostgresPool(location, threads: poolThreads))
        let inbox = PostgresInboxStore(
            location: location, pool: PostgresPool(location, threads: poolThreads), limits: inboxLimits, logger: logger)
        let keys = PostgresKeyStore(pool: PostgresPool(location, threads: keyPoolThreads))
        let files = PostgresFileStore(pool: PostgresPool(location, threads: filePoolThreads))
        let footprint: @Sendable () async throws -> StoreFootprint = {
            let bytes = try await NIOThreadPool.singleton.runIfActive { () throws -> Int64 in
                do {
                    let connection = try PostgresConnection(location.connectionString)
                    return Int64(try connection.execute("SELECT pg_database_size(current_database())").scalar ?? "0") ?? 0
                } catch let error as PostgresError {
                    throw StorageError(error, database: database)
                }
            }
            return StoreFootprint(description: "PostgreSQL database \(database)", bytes: bytes)
        }
        let presence = PostgresPresenceDirectory(location: location, logger: logger)
        let loginFailures = PostgresLoginFailures(pool: PostgresPool(location, threads: 1))
        return Stores(
            accounts: accounts, inbox: inbox, keys: keys, files: files, footprint: footprint, presence: presence,
            loginFailures: loginFailures
        ) {
            await presence.close()
            await loginFailures.close()
            await files.close()
            await inbox.close()
            await keys.close()
            await accounts.close()
        }
    }
}
