#if canImport(Glibc)
import Glibc
#endif

extension StateDirectory {
    /// Deletes everything in the directory (the vault key, the sealed keys and sessions, the
    /// history), then gives up the lock and removes the lock file and the directory itself:
    /// what a client does once its account is deleted. Returns how many files it deleted.
    ///
    /// - Throws: `VaultError.storageFailed` naming what could not be removed (what came
    ///   before it is gone); `.closed` after `close()`.
    @discardableResult
    public func erase() throws(VaultError) -> Int {
        let removed = try withOpenDirectory { directory throws(VaultError) -> Int in
            var count = 0
            for name in try Self.entries(of: directory) where name != "lock" {
                guard unlinkat(directory.descriptor, name, 0) == 0 || errno == ENOENT else {
                    throw .storageFailed(
                        "cannot remove \(directory.path(of: name)): \(String(cString: strerror(errno)))")
                }
                count += 1
            }
            try directory.synchronize()
            return count
        }
        let lockFile = path.hasSuffix("/") ? path + "lock" : path + "/lock"
        close()
        // Last, once nothing holds it; a directory someone put more in stays.
        unlink(lockFile)
        rmdir(path)
        return removed
    }

    /// The names in the directory, "." and ".." left out.
    private static func entries(of directory: DirectoryHandle) throws(VaultError) -> [String] {
        // fdopendir takes the descriptor over: give it a copy of the directory's own.
        let copy = dup(directory.descriptor)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { Glibc.close(copy) }
            throw .storageFailed("cannot list \(directory.path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
