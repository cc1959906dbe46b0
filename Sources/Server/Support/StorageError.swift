/// A failure of the server's storage, in the terms its callers act on rather than those
/// of the backend that failed: whatever stores the data, a session answers "not stored,
/// try again later" and the server goes on; none of these may crash it.
///
/// Each case carries one complete sentence for the operator's log, written by the backend
/// and naming what failed (for the GDBM backend, the file's path), so the message alone
/// says where to look.
enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The store cannot serve the call now: it is closed, or could not be reopened after a
    /// failure and is still retrying.
    case unavailable(String)
    /// There is no room left (a full disk or quota); nothing was stored.
    case full(String)
    /// Stored data cannot be read back: damaged, or not in a format this server knows.
    case corrupt(String)
    /// Reading or writing failed for another reason (a failing disk, a lost connection).
    case io(String)
    /// Another server already uses this storage, which one server at a time may use.
    /// Found at start-up, which stops with this message.
    case alreadyInUse(String)

    /// A store named `store` (a path, a URL) used after its `close()`.
    static func closed(_ store: String) -> StorageError {
        .unavailable("\(store) was used after it was closed")
    }

    var description: String {
        switch self {
        case .unavailable(let message), .full(let message), .corrupt(let message), .io(let message),
            .alreadyInUse(let message):
            return message
        }
    }
}
