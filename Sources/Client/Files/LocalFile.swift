import Foundation

/// A file on this machine read or written in chunks, by descriptor, so that a file is
/// never held whole in memory.
final class LocalFile {
    let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// `path` opened for reading; it must be a regular file.
    static func reading(_ path: String) throws -> LocalFile {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LocalFileError(path: path, doing: "open", errno: errno) }
        let file = LocalFile(path: path, descriptor: descriptor)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw LocalFileError(path: path, doing: "stat", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw LocalFileError(path: path, message: "not a regular file") }
        return file
    }

    /// `path` opened for writing, created with mode 0600 if missing; never through a
    /// symbolic link.
    static func writing(_ path: String) throws -> LocalFile {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw LocalFileError(path: path, doing: "open", errno: errno) }
        return LocalFile(path: path, descriptor: descriptor)
    }

    /// Size and modification time (seconds since 1970).
    func status() throws -> (size: Int, modified: Double) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw LocalFileError(path: path, doing: "stat", errno: errno) }
        return (Int(info.st_size), Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Up to `count` bytes from `offset` (fewer only at the end of the file).
    func read(count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw LocalFileError(path: path, doing: "read", errno: errno)
            }
            if got == 0 { break }
            done += got
        }
        return Array(bytes.prefix(done))
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if wrote < 0 {
                if errno == EINTR { continue }
                throw LocalFileError(path: path, doing: "write", errno: errno)
            }
            done += wrote
        }
    }

    /// Cuts the file to `size` bytes.
    func truncate(to size: Int) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw LocalFileError(path: path, doing: "truncate", errno: errno) }
    }

    /// Flushes what was written to the disk.
    func sync() throws {
        guard fsync(descriptor) == 0 else { throw LocalFileError(path: path, doing: "sync", errno: errno) }
    }
}

/// A local file operation that failed, worded for the user.
struct LocalFileError: Error, CustomStringConvertible {
    let description: String

    init(path: String, doing operation: String, errno code: Int32) {
        description = "cannot \(operation) \(path): \(String(cString: strerror(code)))"
    }

    init(path: String, message: String) {
        description = "\(path): \(message)"
    }
}
