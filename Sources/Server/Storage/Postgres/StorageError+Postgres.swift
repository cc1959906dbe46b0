/// The PostgreSQL backend's storage errors, each naming the database (its redacted
/// location) so the log line alone says where to look.
extension StorageError {
    /// `error`, from a call on the database at `database`, in the terms a session acts on:
    /// a database that is away, refuses connections or is shutting down is `unavailable`
    /// (the session answers "not stored" and the server retries on the next call); a full
    /// disk is `full`; anything else is `io`.
    init(_ error: PostgresError, database: String) {
        switch error {
        case .unavailable(let message):
            self = .unavailable("PostgreSQL database \(database) is unavailable: \(message)")
        case .statementFailed(let state, let message):
            let text = "PostgreSQL database \(database) refused a statement (\(state)): \(message)"
            switch state {
            case "53100":
                // disk_full
                self = .full(text)
            case _ where state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53") || state == "25006":
                // Connection exceptions, operator intervention (shutdown, cannot connect now),
                // insufficient resources, a read-only standby: the database is away for now.
                self = .unavailable(text)
            default:
                self = .io(text)
            }
        }
    }

    /// The database holds a schema newer than this server knows: an operator must upgrade
    /// the server (or point it at another database); nothing was changed.
    static func schemaTooNew(database: String, found: Int, known: Int) -> StorageError {
        .corrupt(
            "PostgreSQL database \(database) has schema version \(found), newer than this chat-server knows (\(known)): "
                + "upgrade chat-server, or point --store at another database")
    }
}
