import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted on a fresh temporary directory, for tests that need a disk that
/// really fills up (writes then fail with ENOSPC, as on a full disk). Needs root; `init`
/// throws, saying why, where it cannot mount.
///
/// Unmount it with `unmount()` when done (a lazy unmount, so a process still holding a
/// file there does not keep it busy); the directory is removed with it.
public final class TmpfsMount: Sendable {
    /// Where the tmpfs is mounted.
    public let path: String
    private let parent: TemporaryDirectory

    /// Mounts a tmpfs of `bytes` bytes (rounded up to pages by the kernel).
    public init(bytes: Int) throws {
        #if os(Linux)
        guard geteuid() == 0 else {
            throw FixtureError("mounting a tmpfs needs root; running as uid \(geteuid())")
        }
        let parent = try TemporaryDirectory(prefix: "tmpfs")
        let path = parent.appending("mnt")
        guard mkdir(path, 0o700) == 0 else {
            parent.remove()
            throw FixtureError("mkdir \(path): \(String(cString: strerror(errno)))")
        }
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            let reason = String(cString: strerror(errno))
            parent.remove()
            throw FixtureError("mount -t tmpfs on \(path) failed: \(reason)")
        }
        self.parent = parent
        self.path = path
        #else
        throw FixtureError("tmpfs mounts are Linux only")
        #endif
    }

    /// Writes `name` in the mount until the tmpfs is full (ENOSPC); returns its path.
    @discardableResult
    public func fill(name: String = "filler") throws -> String {
        let file = path + "/" + name
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw FixtureError("open \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        // Big chunks first, then pages, so the last free page is taken too.
        for chunk in [1 << 16, 4_096, 512] {
            let bytes = [UInt8](repeating: 0x5A, count: chunk)
            while true {
                let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, chunk) }
                if written < chunk {
                    guard written >= 0 || errno == ENOSPC else {
                        throw FixtureError("write \(file): \(String(cString: strerror(errno)))")
                    }
                    break
                }
            }
        }
        return file
    }

    /// Removes the file `name` from the mount, freeing its space.
    public func free(name: String = "filler") throws {
        try FileManager.default.removeItem(atPath: path + "/" + name)
    }

    /// Unmounts (lazily) and removes the directory.
    public func unmount() {
        #if os(Linux)
        _ = umount2(path, Int32(MNT_DETACH))
        #endif
        parent.remove()
    }
}
