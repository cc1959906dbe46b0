import Foundation
import Shared
import Testing
import TestSupport

@testable import Server

/// The same contract checked against every `KeyStore` backend (`StoreKind`), so the in-memory
/// twin used by unit tests cannot drift from the real stores.
@Suite("KeyStore parity")
struct KeyStoreTests {
    @Test("publish then take: the lowest id first, each once, then bundles without a prekey", arguments: StoreKind.allCases)
    func takeInOrder(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            let keys = TestKeys.keys(preKeys: [5, 3, 9])
            #expect(try await store.publish(keys, username: "alice") == 3)
            #expect(try await store.identityKey(username: "alice") == keys.identityKey)
            #expect(try await store.preKeyCount(username: "alice") == 3)

            var taken: [Int] = []
            for remaining in [2, 1, 0] {
                let bundle = try #require(try await store.takeBundle(username: "alice"))
                #expect(bundle.registrationID == keys.registrationID)
                #expect(bundle.identityKey == keys.identityKey)
                #expect(bundle.signedPreKey == keys.signedPreKey)
                #expect(bundle.remainingPreKeys == remaining)
                let preKey = try #require(bundle.preKey)
                #expect(preKey == TestKeys.preKey(preKey.id))
                taken.append(preKey.id)
            }
            #expect(taken == [3, 5, 9])
            let empty = try #require(try await store.takeBundle(username: "alice"))
            #expect(empty.preKey == nil && empty.remainingPreKeys == 0 && empty.signedPreKey == keys.signedPreKey)
            #expect(try await store.preKeyCount(username: "alice") == 0)
        }
    }

    @Test("a user without keys has no bundle, identity key or count", arguments: StoreKind.allCases)
    func noKeys(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(), username: "alice")
            #expect(try await store.takeBundle(username: "bob") == nil)
            #expect(try await store.identityKey(username: "bob") == nil)
            #expect(try await store.preKeyCount(username: "bob") == nil)
            #expect(try await store.deleteKeys(username: "bob") == false)
        }
    }

    @Test("the same identity adds prekeys (an id again replaces it) and replaces the signed prekey", arguments: StoreKind.allCases)
    func sameIdentityAdds(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(preKeys: 1...3), username: "alice")
            var topUp = TestKeys.keys(registrationID: 99, signedID: 2, preKeys: 3...5)
            topUp.preKeys[0].publicKey = TestKeys.publicKey(777)  // id 3, a new key
            #expect(try await store.publish(topUp, username: "alice") == 5)
            var handedOut: [PublishedPreKey] = []
            while let preKey = try await store.takeBundle(username: "alice")?.preKey {
                handedOut.append(preKey)
            }
            #expect(handedOut.map(\.id) == [1, 2, 3, 4, 5])
            #expect(handedOut[2].publicKey == TestKeys.publicKey(777))
            let bundle = try #require(try await store.takeBundle(username: "alice"))
            #expect(bundle.registrationID == 99 && bundle.signedPreKey == topUp.signedPreKey)
        }
    }

    @Test("a new identity replaces the whole record: the old identity's prekeys are gone", arguments: StoreKind.allCases)
    func newIdentityReplaces(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(identity: 1, preKeys: 1...50), username: "alice")
            let reinstalled = TestKeys.keys(identity: 2, registrationID: 4_000, signedID: 7, preKeys: [60, 61])
            #expect(try await store.publish(reinstalled, username: "alice") == 2)
            #expect(try await store.identityKey(username: "alice") == reinstalled.identityKey)
            let first = try #require(try await store.takeBundle(username: "alice"))
            #expect(first.preKey == TestKeys.preKey(60, identity: 2))
            #expect(first.identityKey == reinstalled.identityKey && first.signedPreKey == reinstalled.signedPreKey)
            #expect(first.registrationID == 4_000 && first.remainingPreKeys == 1)
            // With none at all, a new identity still clears what the old one left.
            #expect(try await store.publish(TestKeys.keys(identity: 3, preKeys: []), username: "alice") == 0)
            #expect(try await store.takeBundle(username: "alice")?.preKey == nil)
        }
    }

    @Test("the cap: 1000 one-time prekeys; one more is refused and nothing changes", arguments: StoreKind.allCases)
    func cap(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            let perFrame = PublishedKeys.maximumPreKeysPerFrame
            for batch in 0..<(KeyRecord.maximumPreKeys / perFrame) {
                let count = try await store.publish(
                    TestKeys.keys(preKeys: (batch * perFrame + 1)...((batch + 1) * perFrame)), username: "alice")
                #expect(count == (batch + 1) * perFrame)
            }
            // Replacing ids already there adds nothing, so it fits.
            #expect(try await store.publish(TestKeys.keys(signedID: 2, preKeys: 1...200), username: "alice") == 1_000)
            await #expect(throws: KeyStoreError.tooManyPreKeys(resulting: 1_001)) {
                try await store.publish(TestKeys.keys(signedID: 3, preKeys: [1_001]), username: "alice")
            }
            #expect(try await store.preKeyCount(username: "alice") == 1_000)
            #expect(try await store.takeBundle(username: "alice")?.signedPreKey.id == 2, "the refused publish changed nothing")
            // A new identity starts afresh, so it is not held to what the old one had.
            #expect(try await store.publish(TestKeys.keys(identity: 2, preKeys: 1...200), username: "alice") == 200)
        }
    }

    @Test("50 concurrent takes of 20 prekeys: 20 distinct ones handed out, 30 bundles without", arguments: StoreKind.allCases)
    func concurrentTakes(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(preKeys: 1...20), username: "alice")
            let bundles = Locked<[KeyBundle]>([])
            let failures = Locked<[String]>([])
            await StorageTestSupport.concurrently(50) { _ in
                do {
                    if let bundle = try await store.takeBundle(username: "alice") {
                        bundles.withLock { $0.append(bundle) }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            let all = bundles.withLock { $0 }
            #expect(all.count == 50)
            let ids = all.compactMap(\.preKey?.id)
            #expect(ids.count == 20)
            #expect(Set(ids) == Set(1...20), "each prekey once: \(ids.sorted())")
            #expect(all.filter { $0.preKey == nil }.count == 30)
            #expect(try await store.preKeyCount(username: "alice") == 0)
        }
    }

    @Test("deleteKeys removes everything; the user may publish again", arguments: StoreKind.allCases)
    func delete(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(preKeys: 1...5), username: "alice")
            try await store.publish(TestKeys.keys(identity: 2), username: "bob")
            #expect(try await store.deleteKeys(username: "alice") == true)
            #expect(try await store.deleteKeys(username: "alice") == false)
            #expect(try await store.identityKey(username: "alice") == nil)
            #expect(try await store.preKeyCount(username: "alice") == nil)
            #expect(try await store.takeBundle(username: "alice") == nil)
            #expect(try await store.preKeyCount(username: "bob") == 20, "others keep theirs")
            #expect(try await store.publish(TestKeys.keys(preKeys: [8]), username: "alice") == 1)
            #expect(try await store.takeBundle(username: "alice")?.preKey?.id == 8)
        }
    }

    @Test("every call after close throws closed; close is idempotent", arguments: StoreKind.allCases)
    func useAfterClose(kind: StoreKind) async throws {
        try await kind.withKeyStore { store throws in
            try await store.publish(TestKeys.keys(), username: "alice")
            await store.close()
            await store.close()
            await #expect { try await store.publish(TestKeys.keys(), username: "alice") } throws: { Self.isClosed($0) }
            await #expect { try await store.takeBundle(username: "alice") } throws: { Self.isClosed($0) }
            await #expect { try await store.identityKey(username: "alice") } throws: { Self.isClosed($0) }
            await #expect { try await store.preKeyCount(username: "alice") } throws: { Self.isClosed($0) }
            await #expect { try await store.deleteKeys(username: "alice") } throws: { Self.isClosed($0) }
        }
    }

    @Test("keys survive closing and reopening the backend; a prekey handed out stays gone", arguments: [StoreKind.gdbm, .postgres])
    func survivesReopen(kind: StoreKind) async throws {
        let (location, cleanUp) = try await kind.durableLocation()
        defer { cleanUp() }
        let keys = TestKeys.keys(preKeys: 1...4)
        let first = try await StoreFixture.openRetrying(location)
        try await StorageTestSupport.closing(first, close: { await $0.close() }) { stores throws in
            #expect(try await stores.keys.publish(keys, username: "alice") == 4)
            #expect(try await stores.keys.takeBundle(username: "alice")?.preKey?.id == 1)
        }
        let second = try await StoreFixture.openRetrying(location)
        try await StorageTestSupport.closing(second, close: { await $0.close() }) { stores throws in
            #expect(try await stores.keys.identityKey(username: "alice") == keys.identityKey)
            #expect(try await stores.keys.preKeyCount(username: "alice") == 3)
            let bundle = try #require(try await stores.keys.takeBundle(username: "alice"))
            #expect(bundle.preKey == TestKeys.preKey(2))
            #expect(bundle.signedPreKey == keys.signedPreKey && bundle.registrationID == keys.registrationID)
        }
    }

    @Test("a GDBM key record that cannot be decoded is reported corrupt, naming the file and user")
    func gdbmCorruptRecord() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMKeyStore.fileName)
            do {
                let file = try GDBMFile(path: path)
                _ = try file.store(key: Array("alice".utf8), value: [1, 2, 3], replace: true)
                try file.sync()
                try file.close()
            }
            let store = try GDBMKeyStore(directory: directory)
            _ = try await StorageTestSupport.closing(store, close: { await $0.close() }) { store throws in
                await #expect {
                    try await store.takeBundle(username: "alice")
                } throws: { error in
                    guard case StorageError.corrupt(let text) = error else { return false }
                    return text.contains(path) && text.contains("alice")
                }
            }
        }
    }

    // MARK: - Helpers

    private static func isClosed(_ error: any Error) -> Bool {
        if case StorageError.unavailable(let text) = error {
            return text.hasSuffix(" was used after it was closed")
        }
        return false
    }
}
