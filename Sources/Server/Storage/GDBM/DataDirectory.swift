import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's data directory: owner-only permissions, the paths of the files in it,
/// and an exclusive lock that keeps a second `chat-server` out.
///
/// Open it before any store. Its lock is what turns "two servers on one directory"
/// into one clear error up front, instead of a GDBM "Can't be writer" on whichever
/// file the second server happens to open first. Keep the instance alive as long as
/// the stores that use the directory; `release()` or deinit gives the lock up.
final class DataDirectory: Sendable {
    /// Name of the lock file inside the directory.
    static let lockFileName = ".lock"

    /// The permissions the directory is kept at: it holds password hashes and messages.
    static let permissions: mode_t = 0o700

    /// Absolute path of the directory.
    let path: String

    /// Things an operator should know about, found while opening; for example that the
    /// directory's permissions were tightened. Meant to be logged by the caller.
    let notes: [String]

    /// The lock file's descriptor while the lock is held; closing it releases the `flock`.
    private let lockDescriptor: Locked<Int32?>

    /// Creates the directory if needed (mode 0700), takes its lock, and tightens its
    /// permissions to 0700 if they were anything else.
    ///
    /// - Throws: `StorageError.alreadyInUse` when another process holds the lock,
    ///   `StorageError.io` when the directory cannot be created, locked or chmod-ed.
    init(path: String) throws(StorageError) {
        let path = URL(fileURLWithPath: path).standardizedFileURL.path
        self.path = path

        let existed = try Self.createIfMissing(path)
        let descriptor = try Self.lock(directory: path)

        var notes: [String] = []
        do {
            if let previous = try Self.enforcePermissions(path), existed {
                notes.append(
                    "data directory \(path) had permissions \(Self.octal(previous)); changed them to "
                        + Self.octal(Self.permissions)
                )
            }
        } catch {
            close(descriptor)
            throw error
        }
        self.notes = notes
        lockDescriptor = Locked(descriptor)
    }

    deinit {
        release()
    }

    /// The path of the file `name` inside the directory.
    ///
    /// `name` is a fixed file name chosen by the server, never user input.
    func path(for name: String) -> String {
        precondition(!name.isEmpty && !name.contains("/") && name != "." && name != "..",
                     "data file names are plain file names")
        return path + "/" + name
    }

    /// Releases the directory lock. Calling it again does nothing.
    ///
    /// Close every store on the directory first, or a new server could open files
    /// this one is still writing.
    func release() {
        lockDescriptor.withLock { descriptor in
            if let fd = descriptor {
                // Closing the only descriptor of the open file description drops the flock.
                close(fd)
                descriptor = nil
            }
        }
    }

    /// The directory and the bytes its files take on disk (allocated blocks: GDBM files
    /// are sparse, so their apparent size overstates them).
    func footprint() -> StoreFootprint {
        var total: Int64 = 0
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names {
            var info = stat()
            if lstat(path + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
                total += Int64(info.st_blocks) * 512
            }
        }
        return StoreFootprint(description: "GDBM files in \(path)", bytes: total)
    }

    // MARK: - Private helpers

    /// Creates the directory with mode 0700 unless it exists; returns whether it existed.
    private static func createIfMissing(_ path: String) throws(StorageError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw .io(path: path, message: "exists and is not a directory")
            }
            return true
        }
        do {
            // Intermediate directories get the default mode; only the last one holds data.
            try FileManager.default.createDirectory(
                atPath: path,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: Int(permissions)]
            )
        } catch {
            throw .io(path: path, message: "cannot create data directory: \(error.localizedDescription)")
        }
        return false
    }

    /// Opens the lock file and takes an exclusive, non-blocking `flock` on it.
    ///
    /// `flock` belongs to the open file description, so even a second `DataDirectory`
    /// in the same process conflicts, and the kernel drops it when the process dies:
    /// a crashed server never leaves a stale lock behind.
    private static func lock(directory: String) throws(StorageError) -> Int32 {
        let lockPath = directory + "/" + lockFileName
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw .io(path: lockPath, message: "cannot open lock file: " + String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            close(fd)
            if error == EWOULDBLOCK || error == EAGAIN {
                throw .alreadyInUse(path: directory)
            }
            throw .io(path: lockPath, message: "cannot lock: " + String(cString: strerror(error)))
        }
        return fd
    }

    /// Sets the directory's mode to 0700 regardless of the umask; returns the previous
    /// mode if it had to change.
    private static func enforcePermissions(_ path: String) throws(StorageError) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .io(path: path, message: "cannot stat: " + String(cString: strerror(errno)))
        }
        let current = info.st_mode & 0o7777
        if current == permissions {
            return nil
        }
        guard chmod(path, permissions) == 0 else {
            throw .io(path: path, message: "cannot set mode 0700: " + String(cString: strerror(errno)))
        }
        return current
    }

    private static func octal(_ mode: mode_t) -> String {
        "0" + String(mode, radix: 8)
    }
}
