/// Failures of the server's on-disk storage: the data directory and the GDBM files in it.
///
/// Every case names the path involved so an operator can act on the message alone.
/// A full disk, a permission problem or a damaged file all end up here as a thrown
/// error; none of them may crash the server.
enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another process (normally a second `chat-server`) holds the data directory.
    /// The path is the data directory, even when the conflict was found on a file inside it.
    case alreadyInUse(path: String)
    /// A system call or GDBM operation failed; the message carries GDBM's and the
    /// system's explanation (for example "No space left on device").
    case io(path: String, message: String)
    /// The file exists but is not a valid GDBM database, or a record in it cannot be decoded.
    case corrupt(path: String, message: String)
    /// The file was used after `close()`.
    case closed(path: String)

    var description: String {
        switch self {
        case .alreadyInUse(let path):
            return "data directory \(path) is already in use by another chat-server"
        case .io(let path, let message):
            return "I/O error on \(path): \(message)"
        case .corrupt(let path, let message):
            return "\(path) is corrupt: \(message)"
        case .closed(let path):
            return "\(path) was used after it was closed"
        }
    }
}
