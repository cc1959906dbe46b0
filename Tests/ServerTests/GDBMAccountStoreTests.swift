import Shared
import Foundation
import Testing

@testable import Server

@Suite("GDBMAccountStore")
struct GDBMAccountStoreTests {
    @Test("accounts survive closing and reopening the store and the data directory")
    func survivesReopen() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let hasher = try PasswordHasher(parameters: .fastForTests)
            let alice = Account(username: try Username("alice"), passwordHash: try hasher.hash(password: "password1"))

            do {
                let directory = try DataDirectory(path: path)
                let store = try GDBMAccountStore(directory: directory)
                try await store.create(alice)
                await store.close()
                directory.release()
            }

            let directory = try await StorageTestSupport.reopen(path)
            try await Self.closing(try GDBMAccountStore(directory: directory)) { store throws in
                let found = try #require(try await store.find(username: "alice"))
                #expect(found == alice)
                #expect(try found.passwordHash.verify(password: "password1"))
                #expect(try found.passwordHash.verify(password: "password2") == false)
                #expect(try StorageTestSupport.permissions(of: path + "/accounts.gdbm") == 0o600)
                #expect(try StorageTestSupport.permissions(of: path) == 0o700)
            }
        }
    }

    @Test("the record is JSON with the scrypt parameters beside the hash")
    func recordFormat() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let parameters = ScryptParameters(logN: 11, r: 8, p: 1)
            let hasher = try PasswordHasher(parameters: parameters)
            try await Self.closing(try GDBMAccountStore(directory: directory)) { store throws in
                try await store.create(Account(
                    username: try Username("alice"),
                    passwordHash: try hasher.hash(password: "password1"),
                    createdAt: Date(timeIntervalSince1970: 1_700_000_000)
                ))
            }

            // Read the raw record the way a later server version would.
            let file = try GDBMFile(path: directory.path(for: GDBMAccountStore.fileName))
            defer { try? file.close() }
            let raw = try #require(try file.fetch(key: Array("alice".utf8)))
            let object = try #require(JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any])
            #expect(object["username"] as? String == "alice")
            #expect(object["createdAt"] as? String == "2023-11-14T22:13:20Z")
            let hash = try #require(object["passwordHash"] as? [String: Any])
            #expect(hash["algorithm"] as? String == "scrypt")
            #expect(hash["logN"] as? Int == 11)
            #expect(hash["r"] as? Int == 8)
            #expect(hash["p"] as? Int == 1)
        }
    }

    @Test("a record written before the operator's fields reads as never logged in, unlocked, nothing to change")
    func legacyRecord() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let hash = try PasswordHasher(parameters: .fastForTests).hash(password: "password1")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            // The record as servers before them wrote it: username, passwordHash, createdAt.
            var legacy = try #require(
                JSONSerialization.jsonObject(with: try encoder.encode(hash)) as? [String: Any])
            legacy = ["username": "alice", "createdAt": "2023-11-14T22:13:20Z", "passwordHash": legacy]
            do {
                let file = try GDBMFile(path: directory.path(for: GDBMAccountStore.fileName))
                let value = try JSONSerialization.data(withJSONObject: legacy, options: [.sortedKeys])
                try file.store(key: Array("alice".utf8), value: Array(value), replace: false)
                try file.close()
            }
            try await Self.closing(try GDBMAccountStore(directory: directory)) { store throws in
                let found = try #require(try await store.find(username: "alice"))
                #expect(found.createdAt == Date(timeIntervalSince1970: 1_700_000_000))
                #expect(found.lastLoginAt == nil && !found.isLocked && !found.mustChangePassword)
                #expect(try found.passwordHash.verify(password: "password1"))
                // Written back with the new fields, read again the same.
                let locked = try await store.modify(username: "alice") { $0.isLocked = true }
                #expect(try await store.find(username: "alice") == locked)
            }
        }
    }

    @Test("an undecodable record is reported as corrupt, naming the file and user")
    func corruptRecord() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMAccountStore.fileName)
            do {
                let file = try GDBMFile(path: path)
                try file.store(key: Array("mallory".utf8), value: Array("{not json".utf8), replace: false)
                try file.close()
            }
            try await Self.closing(try GDBMAccountStore(directory: directory)) { store throws in
                await #expect {
                    try await store.find(username: "mallory")
                } throws: { error in
                    guard case StorageError.corrupt(let text) = error else { return false }
                    return text.hasPrefix("\(path) is corrupt: ") && text.contains("mallory")
                }
            }
        }
    }

    @Test("a second server on the same data directory is refused before any file is opened")
    func secondServer() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let directory = try DataDirectory(path: path)
            try await Self.closing(try GDBMAccountStore(directory: directory)) { _ throws in
                #expect(throws: StorageError.alreadyInUse(path: path)) { try DataDirectory(path: path) }
            }
        }
    }

    @Test("after a failed write the store reopens its file: logins and registrations work again")
    func recoversAfterFailedWrite() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let hasher = try PasswordHasher(parameters: .fastForTests)
            let hash = try hasher.hash(password: "password1")
            let alice = Account(username: try Username("alice"), passwordHash: hash)
            let bob = Account(username: try Username("bob"), passwordHash: hash)
            let carol = Account(username: try Username("carol"), passwordHash: hash)
            let faults = GDBMFaults()
            try await Self.closing(try GDBMAccountStore(directory: directory, faults: faults)) { store throws in
                try await store.create(alice)

                // A failed store (a full disk): the registration fails, others can still log in.
                faults.failNext(.store)
                await #expect(throws: StorageError.self) { try await store.create(bob) }
                #expect(try await store.find(username: "alice") == alice)
                #expect(try await store.find(username: "bob") == nil)

                // A failed sync: the record reached the file, but is taken back, so the name
                // is free when the disk works again.
                faults.failNext(.sync)
                await #expect(throws: StorageError.self) { try await store.create(carol) }
                #expect(try await store.find(username: "carol") == nil)
                try await store.create(carol)
                try await store.create(bob)
                #expect(try await store.find(username: "bob") == bob)
                #expect(try await store.find(username: "carol") == carol)

                // The file cannot even be reopened: calls fail until it can.
                faults.failNext(.sync)
                faults.failNext(.open)
                await #expect(throws: StorageError.self) { try await store.update(alice) }
                await #expect(throws: StorageError.self) { try await store.find(username: "alice") }
                #expect(try await store.find(username: "alice") == alice)
            }
        }
    }

    /// Runs `body` with `store`, closing it afterwards whether or not `body` threw.
    @discardableResult
    private static func closing<R>(_ store: GDBMAccountStore, _ body: (GDBMAccountStore) async throws -> R) async throws -> R {
        try await StorageTestSupport.closing(store, close: { await $0.close() }, body)
    }
}
