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

    @Test("the operator's fields survive the store: last login, locked, must change password", arguments: StoreKind.allCases)
    func operatorFields(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            var alice = try Self.account("alice")
            #expect(alice.lastLoginAt == nil && !alice.isLocked && !alice.mustChangePassword)
            try await store.create(alice)
            #expect(try await store.find(username: "alice") == alice)
            alice.lastLoginAt = Date(timeIntervalSince1970: 1_700_000_123)
            alice.isLocked = true
            alice.mustChangePassword = true
            try await store.update(alice)
            #expect(try await store.find(username: "alice") == alice)
        }
    }

    @Test("modify changes one account atomically, may refuse, and answers nil for nobody", arguments: StoreKind.allCases)
    func modify(kind: StoreKind) async throws {
        struct Refused: Error {}
        try await kind.withAccountStore { store throws in
            try await store.create(try Self.account("alice"))
            let changed = try await store.modify(username: "alice") { $0.isLocked = true }
            #expect(changed?.isLocked == true)
            #expect(try await store.find(username: "alice")?.isLocked == true)

            await #expect(throws: Refused.self) {
                try await store.modify(username: "alice") { account in
                    account.isLocked = false
                    throw Refused()
                }
            }
            #expect(try await store.find(username: "alice")?.isLocked == true, "a refused change is not written")
            #expect(try await store.modify(username: "bob") { _ in Issue.record("called for nobody") } == nil)

            // Many concurrent read-change-writes lose nothing: each sees the one before.
            await StorageTestSupport.concurrently(16) { _ in
                _ = try? await store.modify(username: "alice") { account in
                    account.lastLoginAt = (account.lastLoginAt ?? Date(timeIntervalSince1970: 0)).addingTimeInterval(1)
                }
            }
            #expect(try await store.find(username: "alice")?.lastLoginAt == Date(timeIntervalSince1970: 16))
        }
    }

    @Test("delete removes one account, answers whether it was there, and frees the name", arguments: StoreKind.allCases)
    func delete(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            try await store.create(try Self.account("alice"))
            try await store.create(try Self.account("bob"))
            #expect(try await store.delete(username: "alice"))
            #expect(try await store.delete(username: "alice") == false)
            #expect(try await store.find(username: "alice") == nil)
            #expect(try await store.find(username: "bob") != nil)
            try await store.create(try Self.account("alice", password: "another1"))
            #expect(try #require(try await store.find(username: "alice")).passwordHash.verify(password: "another1"))
        }
    }

    @Test("all lists every account, sorted by name", arguments: StoreKind.allCases)
    func all(kind: StoreKind) async throws {
        try await kind.withAccountStore { store throws in
            #expect(try await store.all().isEmpty)
            for name in ["carol", "alice", "bob.b", "bob", "bob-a", "bob_c", "a1"] {
                try await store.create(try Self.account(name))
            }
            let names = try await store.all().map(\.username)
            #expect(names == ["a1", "alice", "bob", "bob-a", "bob.b", "bob_c", "carol"])
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
