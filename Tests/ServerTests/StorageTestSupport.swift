import Foundation

@testable import Server

/// Helpers shared by the storage and account tests.
enum StorageTestSupport {
    /// Runs `body` with the path of a fresh, uniquely named directory under the system
    /// temporary directory, and removes the directory afterwards.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let path = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// `withTemporaryDirectory` for an async `body`.
    static func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
        let path = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    /// Opens a data directory this process has just released. The lock is an `flock`, held
    /// by the open file description, and a child that another test is spawning at that
    /// moment shares it until its `exec` closes it (O_CLOEXEC): under load that takes a
    /// while, so `alreadyInUse` is retried for a few seconds. A real restart is a new
    /// process and has no such window.
    static func reopen(_ path: String) async throws -> DataDirectory {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let opened: Result<DataDirectory, StorageError>
            do {
                opened = .success(try DataDirectory(path: path))
            } catch {
                opened = .failure(error)
            }
            switch opened {
            case .success(let directory):
                return directory
            case .failure(.alreadyInUse) where Date() < deadline:
                try await Task.sleep(nanoseconds: 20_000_000)
            case .failure(let error):
                throw error
            }
        }
    }

    /// Creates a fresh, uniquely named directory under the system temporary directory.
    static func makeTemporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ServerTests-storage-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// The permission bits (`st_mode & 0o7777`) of `path`.
    static func permissions(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// Runs `body` with `store`, then closes the store, whether or not `body` threw: a
    /// `defer` cannot await the close, and a store left to its deinit may still hold its
    /// file when the next step of a test reopens it.
    static func closing<Store, R>(
        _ store: Store, close: (Store) async -> Void, _ body: (Store) async throws -> R
    ) async throws -> R {
        let result: Result<R, any Error>
        do {
            result = .success(try await body(store))
        } catch {
            result = .failure(error)
        }
        await close(store)
        return try result.get()
    }

    /// Runs `body(0)` ... `body(count - 1)` as concurrent tasks and returns when every one
    /// has finished: a server's sessions calling one store at once.
    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { await body(index) }
            }
        }
    }
}
