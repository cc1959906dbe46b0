import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The per-user directory that holds one account's local state on one server, created with
/// mode 0700 and held under an exclusive lock while open, so two chat-clients never write the
/// same keys and history at once.
///
/// The lock is `flock` on the file `lock`, taken without waiting: a second `StateDirectory`
/// on the same path, in this process or another, is refused with `StateDirectoryError.inUse`
/// until the first is closed (or deinitialised, or its process ends).
///
/// An existing directory that group or others may access is tightened to 0700, not refused:
/// the usual cause is a directory made by hand under a 022 umask, and refusing would only send
/// the user to `chmod`. One owned by another user is refused.
///
/// `@unchecked Sendable`: the descriptors are only touched under `lock`.
public final class StateDirectory: @unchecked Sendable {
    /// The directory's absolute path.
    public let path: String

    private let lock = NSLock()
    private var descriptors: (directory: Int32, lockFile: Int32)?

    /// The mode the directory (and any parent this creates) gets.
    static let directoryMode: mode_t = 0o700

    /// Resolves the directory like `resolvePath`, then opens it like `init(path:)`.
    public convenience init(
        explicitPath: String?,
        host: String,
        port: Int,
        username: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(StateDirectoryError) {
        let path = try Self.resolvePath(
            explicitPath: explicitPath, host: host, port: port, username: username, environment: environment
        )
        try self.init(path: path)
    }

    /// Opens the directory at `path`: creates it and any missing parents (0700), tightens it
    /// to 0700 if group or others may access it, and takes its lock.
    ///
    /// - Throws: `StateDirectoryError.inUse` if another client holds the lock; the other cases
    ///   if the directory cannot be made or used.
    public init(path: String) throws(StateDirectoryError) {
        let path = Self.absolute(path)
        self.path = path
        try Self.createMissingDirectories(path)

        let directory = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            throw errno == ENOTDIR ? .notADirectory(path: path) : Self.failure(path, "cannot open")
        }
        do {
            try Self.checkOwnerAndTighten(directory, path: path)
            let lockFile = try Self.takeLock(in: directory, path: path)
            descriptors = (directory, lockFile)
        } catch {
            _ = Glibc.close(directory)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Whether the directory is still open (and locked by this object).
    public var isOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return descriptors != nil
    }

    /// Releases the lock. The vault and history made on this directory refuse to work after it
    /// (`VaultError.closed`). Calling it again does nothing.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard let open = descriptors else { return }
        // Closing the lock file's only descriptor releases the flock.
        _ = Glibc.close(open.lockFile)
        _ = Glibc.close(open.directory)
        descriptors = nil
    }

    /// Runs `body` with the open directory, holding this object's lock: writes to the
    /// directory are serialised, and none can run after `close()`.
    ///
    /// - Throws: `VaultError.closed` after `close()`; whatever `body` throws.
    func withOpenDirectory<Result>(
        _ body: (DirectoryHandle) throws(VaultError) -> Result
    ) throws(VaultError) -> Result {
        lock.lock()
        defer { lock.unlock() }
        guard let open = descriptors else { throw .closed }
        return try body(DirectoryHandle(descriptor: open.directory, path: path))
    }

    // MARK: - Opening

    private static func absolute(_ path: String) -> String {
        let url = path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
        let standardized = url.standardizedFileURL.path
        return standardized.isEmpty ? "/" : standardized
    }

    /// mkdir for every missing component, each with mode 0700 set explicitly (the umask could
    /// have taken the owner's bits too). Existing parents are left as they are: `~/.local`
    /// is not ours to change.
    private static func createMissingDirectories(_ path: String) throws(StateDirectoryError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            let parent = prefix.isEmpty ? "/" : prefix
            prefix += "/" + component
            if mkdir(prefix, directoryMode) == 0 {
                guard chmod(prefix, directoryMode) == 0 else { throw failure(prefix, "cannot set permissions of") }
                continue
            }
            switch errno {
            case EEXIST:
                continue
            case ENOTDIR:
                throw .notADirectory(path: parent)
            default:
                throw failure(prefix, "cannot create")
            }
        }
    }

    private static func checkOwnerAndTighten(_ directory: Int32, path: String) throws(StateDirectoryError) {
        var status = stat()
        guard fstat(directory, &status) == 0 else { throw failure(path, "cannot inspect") }
        guard status.st_uid == geteuid() else { throw .ownedByAnotherUser(path: path) }
        if status.st_mode & 0o077 != 0 || status.st_mode & 0o700 != 0o700 {
            guard fchmod(directory, directoryMode) == 0 else { throw failure(path, "cannot set permissions of") }
        }
    }

    private static func takeLock(in directory: Int32, path: String) throws(StateDirectoryError) -> Int32 {
        // O_CLOEXEC: a child process (an editor, a pager) must not inherit the descriptor and
        // with it the lock.
        let lockFile = openat(directory, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, DirectoryHandle.fileMode)
        guard lockFile >= 0 else { throw failure(path + "/lock", "cannot open") }
        guard fchmod(lockFile, DirectoryHandle.fileMode) == 0 else {
            let error = failure(path + "/lock", "cannot set permissions of")
            _ = Glibc.close(lockFile)
            throw error
        }
        // flock, not fcntl: fcntl locks belong to the process, so a second open in this same
        // process would succeed; flock locks belong to the open file description.
        while flock(lockFile, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let error: StateDirectoryError = errno == EWOULDBLOCK ? .inUse(path: path) : failure(path + "/lock", "cannot lock")
            _ = Glibc.close(lockFile)
            throw error
        }
        return lockFile
    }

    private static func failure(_ path: String, _ action: String) -> StateDirectoryError {
        .unavailable(path: path, reason: "\(action) it: \(String(cString: strerror(errno)))")
    }
}
