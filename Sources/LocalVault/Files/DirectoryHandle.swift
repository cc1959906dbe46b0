#if canImport(Glibc)
import Glibc
#endif

/// File operations relative to the state directory's open descriptor, so a directory renamed
/// or replaced after it was locked is not written to by path.
struct DirectoryHandle {
    let descriptor: Int32
    let path: String

    /// The mode of every file the vault creates.
    static let fileMode: mode_t = 0o600

    /// `name`'s full path, for messages.
    func path(of name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    /// Whether `name` exists (as anything).
    func contains(_ name: String) -> Bool {
        var status = stat()
        return fstatat(descriptor, name, &status, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// `name`'s whole contents, or nil if there is no such file.
    ///
    /// - Throws: `VaultError.corrupt(reportedAs)` if the file is larger than `maximumSize`
    ///   (nothing the vault writes is); `.storageFailed` if it cannot be read.
    func readFile(_ name: String, maximumSize: Int, reportedAs: String) throws(VaultError) -> [UInt8]? {
        guard let file = try open(name, flags: O_RDONLY) else { return nil }
        defer { file.close() }
        let size = try file.size()
        guard size <= maximumSize else { throw .corrupt(reportedAs) }
        return try file.read(count: size, at: 0)
    }

    /// Opens `name` for reading and writing, creating it (mode 0600) if `create` is set; nil
    /// if it does not exist and `create` is not set.
    func openForUpdate(_ name: String, create: Bool) throws(VaultError) -> OpenFile? {
        guard let file = try open(name, flags: O_RDWR | (create ? O_CREAT : 0)) else { return nil }
        do {
            try file.setMode(Self.fileMode)
        } catch {
            file.close()
            throw error
        }
        return file
    }

    /// Replaces `name` with `bytes` so that a crash leaves either the old or the new contents:
    /// a temporary file in this directory, synced, renamed over `name`, then the directory
    /// synced so the rename itself survives a crash.
    func replaceFile(_ name: String, with bytes: [UInt8]) throws(VaultError) {
        // One fixed temporary name per file: writers are serialised by `StateDirectory`, and a
        // temporary left by a crash is simply truncated by the next write.
        let temporary = "." + name + ".tmp"
        guard let file = try open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC) else {
            throw .storageFailed("cannot create \(path(of: temporary))")
        }
        do {
            try file.setMode(Self.fileMode)
            try file.write(bytes, at: 0)
            try file.synchronize()
        } catch {
            file.close()
            _ = unlinkat(descriptor, temporary, 0)
            throw error
        }
        file.close()
        guard renameat(descriptor, temporary, descriptor, name) == 0 else {
            let reason = systemReason()
            _ = unlinkat(descriptor, temporary, 0)
            throw .storageFailed("cannot replace \(path(of: name)): \(reason)")
        }
        try synchronize()
    }

    /// Removes `name` if it exists, durably.
    func removeFile(_ name: String) throws(VaultError) {
        guard unlinkat(descriptor, name, 0) == 0 else {
            if errno == ENOENT { return }
            throw .storageFailed("cannot remove \(path(of: name)): \(systemReason())")
        }
        try synchronize()
    }

    /// Syncs the directory itself: creations, renames and removals in it reach the disk.
    func synchronize() throws(VaultError) {
        while fsync(descriptor) != 0 {
            if errno != EINTR {
                throw .storageFailed("cannot sync \(path): \(systemReason())")
            }
        }
    }

    private func open(_ name: String, flags: Int32) throws(VaultError) -> OpenFile? {
        while true {
            // O_NOFOLLOW: a symbolic link planted in the directory is refused, not followed.
            let fd = openat(descriptor, name, flags | O_CLOEXEC | O_NOFOLLOW, Self.fileMode)
            if fd >= 0 { return OpenFile(descriptor: fd, path: path(of: name)) }
            if errno == EINTR { continue }
            if errno == ENOENT, flags & O_CREAT == 0 { return nil }
            throw .storageFailed("cannot open \(path(of: name)): \(systemReason())")
        }
    }

    private func systemReason() -> String {
        String(cString: strerror(errno))
    }
}
