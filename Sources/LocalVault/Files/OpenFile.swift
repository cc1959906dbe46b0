#if canImport(Glibc)
import Glibc
#endif

/// One open file descriptor and the path it names in messages. Every call retries on EINTR and
/// reports failure as `VaultError.storageFailed` with the path and the system's reason.
struct OpenFile {
    let descriptor: Int32
    let path: String

    /// The file's size in bytes.
    func size() throws(VaultError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("cannot inspect") }
        return Int(status.st_size)
    }

    /// Sets the permission bits to exactly `mode`, whatever the umask did at creation.
    func setMode(_ mode: mode_t) throws(VaultError) {
        guard fchmod(descriptor, mode) == 0 else { throw failure("cannot set permissions of") }
    }

    /// Reads `count` bytes from `offset`; fewer only if the file ends first.
    func read(count: Int, at offset: Int) throws(VaultError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read")
            }
            if result == 0 { break }
            done += result
        }
        bytes.removeSubrange(done...)
        return bytes
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws(VaultError) {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                pwrite(descriptor, buffer.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write")
            }
            done += result
        }
    }

    /// Cuts the file to `length` bytes.
    func truncate(to length: Int) throws(VaultError) {
        while ftruncate(descriptor, off_t(length)) != 0 {
            if errno != EINTR { throw failure("cannot truncate") }
        }
    }

    /// Waits until the file's data (and the size that reaches it) is on disk.
    func synchronize() throws(VaultError) {
        while fdatasync(descriptor) != 0 {
            if errno != EINTR { throw failure("cannot sync") }
        }
    }

    /// Closes the descriptor; the value must not be used after.
    func close() {
        _ = Glibc.close(descriptor)
    }

    private func failure(_ action: String) -> VaultError {
        .storageFailed("\(action) \(path): \(String(cString: strerror(errno)))")
    }
}
