import Foundation

/// Helpers shared by the storage and account tests.
enum StorageTestSupport {
    /// Runs `body` with the path of a fresh, uniquely named directory under the system
    /// temporary directory, and removes the directory afterwards.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ServerTests-storage-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    /// The permission bits (`st_mode & 0o7777`) of `path`.
    static func permissions(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}
