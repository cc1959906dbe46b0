/// The GDBM backend's storage errors, each naming the file or directory involved.
extension StorageError {
    /// A system call or GDBM operation on `path` failed; `message` carries GDBM's and the
    /// system's explanation.
    static func io(path: String, message: String) -> StorageError {
        .io("I/O error on \(path): \(message)")
    }

    /// A write to `path` failed for lack of space (ENOSPC, EDQUOT).
    static func full(path: String, message: String) -> StorageError {
        .full("no space left for \(path): \(message)")
    }

    /// `path` is not a valid GDBM database, or a record in it cannot be decoded.
    static func corrupt(path: String, message: String) -> StorageError {
        .corrupt("\(path) is corrupt: \(message)")
    }

    /// Another process (normally a second `chat-server`) holds the data directory at `path`,
    /// even when the conflict was found on a file inside it.
    static func alreadyInUse(path: String) -> StorageError {
        .alreadyInUse("data directory \(path) is already in use by another chat-server")
    }
}
