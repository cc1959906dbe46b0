import Foundation
import Testing

@testable import Server

@Suite("DataDirectory")
struct DataDirectoryTests {
    @Test("creates the directory 0700 with nothing to report")
    func createsPrivateDirectory() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/nested/data"
            let directory = try DataDirectory(path: path)
            #expect(directory.path == path)
            #expect(try StorageTestSupport.permissions(of: path) == 0o700)
            #expect(directory.notes.isEmpty)
            #expect(directory.path(for: "accounts.gdbm") == path + "/accounts.gdbm")
        }
    }

    @Test("tightens an existing directory's looser permissions and says so")
    func tightensPermissions() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            #expect(chmod(path, 0o755) == 0)
            let directory = try DataDirectory(path: path)
            #expect(try StorageTestSupport.permissions(of: path) == 0o700)
            #expect(directory.notes.count == 1)
            #expect(directory.notes.first?.contains("0755") == true)
        }
    }

    @Test("a second open of the same directory is refused until the first is released")
    func secondOpenIsRefused() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let first = try DataDirectory(path: path)
            // flock belongs to the open file description, so this conflicts even in-process.
            #expect(throws: StorageError.alreadyInUse(path: path)) { try DataDirectory(path: path) }
            first.release()
            first.release()  // idempotent
            let second = try DataDirectory(path: path)
            second.release()
        }
    }

    @Test("the already-in-use message is the one operators see")
    func alreadyInUseMessage() {
        #expect(
            StorageError.alreadyInUse(path: "/var/lib/chat").description
                == "data directory /var/lib/chat is already in use by another chat-server"
        )
    }

    @Test("the path is standardised so messages and file paths are clean")
    func standardisedPath() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/./data/")
            #expect(directory.path == parent + "/data")
        }
    }

    @Test("a regular file in the way is an I/O error")
    func fileInTheWay() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
            #expect {
                try DataDirectory(path: path)
            } throws: { error in
                guard case StorageError.io(let text) = error else { return false }
                return text.hasPrefix("I/O error on \(path): ")
            }
        }
    }
}
