import Logging

/// The open stores of one backend, and how to close them.
struct Stores: Sendable {
    /// Where accounts live.
    let accounts: any AccountStore
    /// Every user's offline inbox.
    let inbox: any InboxStore
    /// Every user's published keys for end-to-end encryption.
    let keys: any KeyStore
    /// Files on their way to their recipients.
    let files: any FileStore
    /// What the store is and its size on disk now (for the operator's `stats`).
    let footprint: @Sendable () async throws -> StoreFootprint
    /// Presence shared with the other servers on the same storage; nil when the backend is
    /// for one server only (GDBM), whose presence is its own.
    var presence: (any PresenceDirectory)? = nil
    /// Failed logins, counted for the back-off; shared with the other servers when
    /// `presence` is.
    var loginFailures: any LoginFailureLedger = InMemoryLoginFailures()
    /// Closes the stores, then gives up what the backend holds (for GDBM, the data
    /// directory's lock). Call it once, after the last call on any store has returned.
    let close: @Sendable () async -> Void
}

/// What a store is and how much disk it takes.
struct StoreFootprint: Equatable, Sendable {
    /// For the operator: "GDBM files in /var/lib/chat", "PostgreSQL database chat@db/chat".
    let description: String
    /// Bytes on disk: the data directory's files, or the database.
    let bytes: Int64
}

/// Opens the stores of the backend a `StorageLocation` names: the one place the server
/// picks a backend. A new backend is a folder under `Storage/` and one case here.
enum StorageBackend {
    /// Opens (creating if needed) the stores at `location`; inboxes are held to
    /// `inboxLimits`, and the backend logs what an operator should know through `logger`.
    ///
    /// - Throws: `StorageError`, with the sentence to show the operator.
    static func open(_ location: StorageLocation, inboxLimits: InboxLimits, logger: Logger) async throws -> Stores {
        switch location {
        case .gdbm(let directory):
            return try await GDBMBackend.open(directory: directory, inboxLimits: inboxLimits, logger: logger)
        case .postgres(let location):
            return try await PostgresBackend.open(location, inboxLimits: inboxLimits, logger: logger)
        }
    }
}
