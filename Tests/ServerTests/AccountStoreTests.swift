import Foundation
import Testing
import Shared

@testable import Server

/// The same checks against both `AccountStore` implementations, so the in-memory twin
/// used by unit tests cannot drift from the GDBM store.
@Suite("AccountStore parity")
struct AccountStoreTests {
    /// Which implementation a test runs against.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case inMemory, gdbm

        var testDescription: String { rawValue }

        /// Runs `body` with a fresh store of this kind, closing it (and removing any
        /// files) afterwards.
        func withStore(_ body: (any AccountStore) throws -> Void) throws {
            switch self {
            case .inMemory:
                let store = InMemoryAccountStore()
                defer { store.close() }
                try body(store)
            case .gdbm:
                try StorageTestSupport.withTemporaryDirectory { parent in
                    let directory = try DataDirectory(path: parent + "/data")
                    let store = try GDBMAccountStore(directory: directory)
                    defer { store.close() }
                    try body(store)
                }
            }
        }
    }

    static let hasher = try! PasswordHasher(parameters: .fastForTests)

    static func account(_ name: String, password: String = "password1") throws -> Account {
        Account(
            username: try Username(name),
            passwordHash: try hasher.hash(password: password),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.75)
        )
    }

    @Test("create then find returns the same account", arguments: Kind.allCases)
    func createAndFind(kind: Kind) throws {
        try kind.withStore { store in
            let alice = try Self.account("Alice")
            try store.create(alice)
            let found = try #require(try store.find(username: "alice"))
            #expect(found == alice)
            #expect(found.createdAt == Date(timeIntervalSince1970: 1_700_000_000))
            #expect(try found.passwordHash.verify(password: "password1"))
            #expect(try store.find(username: "bob") == nil)
        }
    }

    @Test("creating a taken username fails and keeps the first account", arguments: Kind.allCases)
    func usernameTaken(kind: Kind) throws {
        try kind.withStore { store in
            let first = try Self.account("alice", password: "first password")
            try store.create(first)
            #expect(throws: AccountStoreError.usernameTaken("alice")) {
                try store.create(try Self.account("ALICE", password: "second password"))
            }
            #expect(try store.find(username: "alice") == first)
        }
    }

    @Test("update replaces an existing account and refuses a missing one", arguments: Kind.allCases)
    func update(kind: Kind) throws {
        try kind.withStore { store in
            var alice = try Self.account("alice")
            try store.create(alice)
            alice.passwordHash = try Self.hasher.hash(password: "new password")
            try store.update(alice)
            let found = try #require(try store.find(username: "alice"))
            #expect(try found.passwordHash.verify(password: "new password"))
            #expect(try found.passwordHash.verify(password: "password1") == false)

            #expect(throws: AccountStoreError.notFound("bob")) { try store.update(try Self.account("bob")) }
            #expect(try store.find(username: "bob") == nil)
        }
    }

    @Test("every call after close throws closed; close is idempotent", arguments: Kind.allCases)
    func useAfterClose(kind: Kind) throws {
        try kind.withStore { store in
            try store.create(try Self.account("alice"))
            store.close()
            store.close()
            #expect { try store.find(username: "alice") } throws: { Self.isClosed($0) }
            #expect { try store.create(try Self.account("bob")) } throws: { Self.isClosed($0) }
            #expect { try store.update(try Self.account("alice")) } throws: { Self.isClosed($0) }
        }
    }

    @Test("concurrent creates of one name: exactly one wins", arguments: Kind.allCases)
    func concurrentCreates(kind: Kind) throws {
        try kind.withStore { store in
            let accounts = try (0..<8).map { _ in try Self.account("carol") }
            let successes = Locked(0)
            DispatchQueue.concurrentPerform(iterations: accounts.count) { index in
                if (try? store.create(accounts[index])) != nil {
                    successes.withLock { $0 += 1 }
                }
            }
            #expect(successes.withLock { $0 } == 1)
        }
    }

    private static func isClosed(_ error: any Error) -> Bool {
        if case StorageError.unavailable(let text) = error {
            return text.hasSuffix(" was used after it was closed")
        }
        return false
    }
}
