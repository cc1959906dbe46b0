import Foundation
import Testing
import Shared

@testable import Server

/// The same checks against every `AccountStore` backend (`StoreKind`), so the in-memory
/// twin used by unit tests cannot drift from the real stores.
@Suite("AccountStore parity")
struct AccountStoreTests {
    static let hasher = try! PasswordHasher(parameters: .fastForTests)

    static func account(_ name: String, password: String = "password1") throws -> Account {
        Account(
            username: try Username(name),
            passwordHash: try hasher.hash(password: password),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.75)
        )
    }

    @Test("create then find returns the same account", arguments: StoreKind.allCases)
    func createAndFind(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            let alice = try Self.account("Alice")
            try await store.create(alice)
            let found = try #require(try await store.find(username: "alice"))
            #expect(found == alice)
            #expect(found.createdAt == Date(timeIntervalSince1970: 1_700_000_000))
            #expect(try found.passwordHash.verify(password: "password1"))
            #expect(try await store.find(username: "bob") == nil)
        }
    }

    @Test("creating a taken username fails and keeps the first account", arguments: StoreKind.allCases)
    func usernameTaken(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            let first = try Self.account("alice", password: "first password")
            try await store.create(first)
            await #expect(throws: AccountStoreError.usernameTaken("alice")) {
                try await store.create(try Self.account("ALICE", password: "second password"))
            }
            #expect(try await store.find(username: "alice") == first)
        }
    }

    @Test("update replaces an existing account and refuses a missing one", arguments: StoreKind.allCases)
    func update(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            var alice = try Self.account("alice")
            try await store.create(alice)
            alice.passwordHash = try Self.hasher.hash(password: "new password")
            try await store.update(alice)
            let found = try #require(try await store.find(username: "alice"))
            #expect(try found.passwordHash.verify(password: "new password"))
            #expect(try found.passwordHash.verify(password: "password1") == false)

            await #expect(throws: AccountStoreError.notFound("bob")) { try await store.update(try Self.account("bob")) }
            #expect(try await store.find(username: "bob") == nil)
        }
    }

    @Test("every call after close throws closed; close is idempotent", arguments: StoreKind.allCases)
    func useAfterClose(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            try await store.create(try Self.account("alice"))
            await store.close()
            await store.close()
            await #expect { try await store.find(username: "alice") } throws: { Self.isClosed($0) }
            await #expect { try await store.create(try Self.account("bob")) } throws: { Self.isClosed($0) }
            await #expect { try await store.update(try Self.account("alice")) } throws: { Self.isClosed($0) }
        }
    }

    @Test("concurrent creates of one name: exactly one wins", arguments: StoreKind.allCases)
    func concurrentCreates(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            let accounts = try (0..<8).map { _ in try Self.account("carol") }
            let successes = Locked(0)
            await StorageTestSupport.concurrently(accounts.count) { index in
                if (try? await store.create(accounts[index])) != nil {
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
