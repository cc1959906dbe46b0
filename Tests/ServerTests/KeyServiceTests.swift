import Logging
import NIOCore
import NIOPosix
import Shared
import Testing
import TestSupport

@testable import Server

/// `KeyDirectory`'s copy of identity keys, `KeyService`'s answers to the key frames, and the
/// gate that keeps one user's publishes in line.
@Suite("Keys")
struct KeyServiceTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A store whose publishes can be made to fail after the change reached the store, as a
    /// write whose sync failed does: its outcome is unknown to the caller.
    final class UncertainStore: KeyStore {
        let inner = InMemoryKeyStore()
        let failAfterPublishing = Locked(false)

        func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
            let count = try await inner.publish(keys, username: username)
            if failAfterPublishing.withLock({ $0 }) { throw StorageError.io("sync failed") }
            return count
        }

        func takeBundle(username: String) async throws -> KeyBundle? { try await inner.takeBundle(username: username) }
        func identityKey(username: String) async throws -> [UInt8]? { try await inner.identityKey(username: username) }
        func preKeyCount(username: String) async throws -> Int? { try await inner.preKeyCount(username: username) }
        func deleteKeys(username: String) async throws -> Bool { try await inner.deleteKeys(username: username) }
        func close() async { await inner.close() }
    }

    /// A store whose first identity-key read waits, once it has read, until `resume()`: a
    /// change can be announced while a load is under way.
    final class PausingStore: KeyStore {
        let inner = InMemoryKeyStore()
        let reads = Locked(0)
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let (resumed, resumeContinuation) = AsyncStream<Void>.makeStream()

        func resume() { resumeContinuation.yield() }

        func identityKey(username: String) async throws -> [UInt8]? {
            let key = try await inner.identityKey(username: username)
            let first = reads.withLock { reads in
                reads += 1
                return reads == 1
            }
            if first {
                startedContinuation.yield()
                var waiting = resumed.makeAsyncIterator()
                _ = await waiting.next()
            }
            return key
        }

        func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
            try await inner.publish(keys, username: username)
        }
        func takeBundle(username: String) async throws -> KeyBundle? { try await inner.takeBundle(username: username) }
        func preKeyCount(username: String) async throws -> Int? { try await inner.preKeyCount(username: username) }
        func deleteKeys(username: String) async throws -> Bool { try await inner.deleteKeys(username: username) }
        func close() async { await inner.close() }
    }

    /// A service over an in-memory directory, with accounts for `users`, recording what it
    /// sends to owners.
    struct Fixture {
        let directory: KeyDirectory
        let service: KeyService
        let notices: Locked<[(String, ServerFrame)]>
        let loop = MultiThreadedEventLoopGroup.singleton.any()

        init(users: [String] = ["alice", "bob"], store: any KeyStore = InMemoryKeyStore()) async throws {
            let accounts = InMemoryAccountStore()
            for user in users { try await accounts.create(try AccountStoreTests.account(user)) }
            let notices = Locked<[(String, ServerFrame)]>([])
            directory = KeyDirectory(store: store)
            service = KeyService(
                directory: directory, accounts: accounts,
                notify: { user, frame in notices.withLock { $0.append((user, frame)) } }, logger: KeyServiceTests.logger)
            self.notices = notices
        }

        func publish(_ keys: PublishedKeys, as user: String, id: Int = 1) async throws -> ServerFrame {
            try await service.publish(keys, username: user, requestID: id, on: loop).get()
        }

        func fetch(_ target: String, id: Int = 2) async throws -> ServerFrame {
            try await service.fetch(target, requestID: id, on: loop).get()
        }
    }

    // MARK: - KeyDirectory

    @Test("the directory's copy: filled by a lookup or a publish, forgotten when a publish's outcome is unknown")
    func directoryCopy() async throws {
        let store = UncertainStore()
        let directory = KeyDirectory(store: store)
        #expect(directory.cachedIdentity(of: "alice") == nil)
        #expect(try await directory.identityKey(for: "alice") == nil)
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: nil), "none, and known to be none")

        let first = TestKeys.keys(identity: 1)
        #expect(try await directory.publish(first, username: "alice") == 20)
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: first.identityKey))

        // Refused by the rules: nothing changed, the copy stands.
        await #expect(throws: KeyStoreError.self) {
            try await directory.publish(TestKeys.keys(identity: 1, preKeys: 21...1_001), username: "alice")
        }
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: first.identityKey))

        store.failAfterPublishing.withLock { $0 = true }
        let second = TestKeys.keys(identity: 2)
        await #expect(throws: StorageError.self) { try await directory.publish(second, username: "alice") }
        #expect(directory.cachedIdentity(of: "alice") == nil, "the store may hold either key now")
        #expect(try await directory.identityKey(for: "alice") == second.identityKey, "read again from the store")
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: second.identityKey))

        #expect(try await directory.deleteKeys(username: "alice"))
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: nil))
    }

    @Test("every change is announced with the identity it left; a change announced by another node drops a different copy only")
    func announcements() async throws {
        let store = UncertainStore()
        let announced = Locked<[String]>([])
        let directory = KeyDirectory(store: store) { username, identity in
            announced.withLock { $0.append("\(username) \(identity)") }
        }
        let first = TestKeys.keys(identity: 1)
        _ = try await directory.publish(first, username: "alice")
        #expect(announced.withLock { $0 } == ["alice \(AnnouncedIdentity.key(first.identityKey))"])

        // Another node topped up alice's prekeys under the same identity: the copy stands.
        directory.changedElsewhere("alice", identity: .key(first.identityKey))
        #expect(directory.cachedIdentity(of: "alice") == KeyDirectory.KnownIdentity(key: first.identityKey))
        // Another node published a new identity: the copy goes, and is read afresh.
        let second = TestKeys.keys(identity: 2)
        _ = try await store.publish(second, username: "alice")
        directory.changedElsewhere("alice", identity: .key(second.identityKey))
        #expect(directory.cachedIdentity(of: "alice") == nil)
        #expect(try await directory.identityKey(for: "alice") == second.identityKey)
        directory.changedElsewhere("alice", identity: .unknown)
        #expect(directory.cachedIdentity(of: "alice") == nil)
        _ = try await directory.identityKey(for: "alice")
        directory.forgetAll()
        #expect(directory.cachedIdentity(of: "alice") == nil)

        #expect(try await directory.deleteKeys(username: "alice"))
        #expect(announced.withLock { $0.last } == "alice none")
    }

    @Test("a change announced while a key is read (the partner's own publish on another node) leaves the key kept, read again")
    func announcedDuringLoad() async throws {
        let store = PausingStore()
        let keys = TestKeys.keys(identity: 1)
        _ = try await store.inner.publish(keys, username: "bob")
        let directory = KeyDirectory(store: store)
        let load = Task { try await directory.identityKey(for: "bob") }
        var started = store.started.makeAsyncIterator()
        _ = await started.next()
        directory.changedElsewhere("bob", identity: .key(keys.identityKey))
        store.resume()
        #expect(try await load.value == keys.identityKey)
        #expect(directory.cachedIdentity(of: "bob") == KeyDirectory.KnownIdentity(key: keys.identityKey), "send checks this copy")
        #expect(store.reads.withLock { $0 } == 2)
    }

    @Test("a change announced for another user while a key is read does not stop the read from being kept")
    func otherUserAnnouncedDuringLoad() async throws {
        let store = PausingStore()
        let keys = TestKeys.keys(identity: 1)
        _ = try await store.inner.publish(keys, username: "bob")
        let directory = KeyDirectory(store: store)
        let load = Task { try await directory.identityKey(for: "bob") }
        var started = store.started.makeAsyncIterator()
        _ = await started.next()
        directory.changedElsewhere("carol", identity: .key(TestKeys.keys(identity: 2).identityKey))
        store.resume()
        #expect(try await load.value == keys.identityKey)
        #expect(directory.cachedIdentity(of: "bob") == KeyDirectory.KnownIdentity(key: keys.identityKey))
        #expect(store.reads.withLock { $0 } == 1, "carol's change says nothing about bob's key")
    }

    @Test("chat and login read the store: a copy not yet told of a publish on another node is not what they report")
    func readsThroughStaleCopy() async throws {
        let store = InMemoryKeyStore()
        let directory = KeyDirectory(store: store)
        // bob registered through this node (his leftovers cleared: the copy says "no keys"),
        // then published through another, whose announcement is still on its way.
        try await directory.deleteKeys(username: "bob")
        #expect(directory.cachedIdentity(of: "bob") == KeyDirectory.KnownIdentity(key: nil))
        let keys = TestKeys.keys(identity: 1)
        _ = try await store.publish(keys, username: "bob")
        #expect(try await directory.identityKey(for: "bob") == keys.identityKey)
        #expect(directory.cachedIdentity(of: "bob") == KeyDirectory.KnownIdentity(key: keys.identityKey))
        // The announcement, arriving now, changes nothing.
        directory.changedElsewhere("bob", identity: .key(keys.identityKey))
        #expect(directory.cachedIdentity(of: "bob") == KeyDirectory.KnownIdentity(key: keys.identityKey))
    }

    @Test("the change count moves with every change of a copied identity and with nothing else")
    func changeCount() async throws {
        let store = UncertainStore()
        let directory = KeyDirectory(store: store)
        var count = directory.changeCount
        /// True when the count moved since the last call.
        func moved() -> Bool {
            defer { count = directory.changeCount }
            return directory.changeCount != count
        }
        _ = try await directory.identityKey(for: "alice")
        #expect(!moved(), "a first lookup changes no answer: an identity not copied never matched")
        let first = TestKeys.keys(identity: 1)
        _ = try await directory.publish(first, username: "alice")
        #expect(moved(), "a publish")
        _ = try await directory.identityKey(for: "alice")
        #expect(!moved(), "a lookup of a copied identity")
        directory.changedElsewhere("alice", identity: .key(first.identityKey))
        #expect(!moved(), "another node's top-up under the same identity")
        directory.changedElsewhere("alice", identity: .key(TestKeys.keys(identity: 2).identityKey))
        #expect(moved(), "another node's new identity")
        _ = try await directory.identityKey(for: "alice")
        directory.changedElsewhere("alice", identity: .unknown)
        #expect(moved(), "another node's unknown outcome")
        directory.forgetAll()
        #expect(moved(), "forgetting everything")
        #expect(try await directory.deleteKeys(username: "alice"))
        #expect(moved(), "a deletion")
        store.failAfterPublishing.withLock { $0 = true }
        await #expect(throws: StorageError.self) { try await directory.publish(first, username: "alice") }
        #expect(moved(), "a publish whose outcome is unknown")
    }

    @Test("calls under one key run one at a time, in order; another key does not wait for them")
    func serialGate() async throws {
        let gate = KeyedSerialGate()
        let inside = Locked((now: 0, most: 0, order: [Int]()))
        await withTaskGroup(of: Void.self) { group in
            for number in 0..<20 {
                group.addTask {
                    await gate.run("alice") {
                        inside.withLock { $0.now += 1; $0.most = max($0.most, $0.now); $0.order.append(number) }
                        await Task.yield()
                        inside.withLock { $0.now -= 1 }
                    }
                }
            }
        }
        #expect(inside.withLock { $0.most } == 1)
        #expect(inside.withLock { $0.order.count } == 20)

        let (held, release) = AsyncStream<Void>.makeStream()
        let blocked = Task { await gate.run("alice") { for await _ in held { break } } }
        await Task.yield()
        #expect(await gate.run("bob") { "bob ran" } == "bob ran", "bob is not held up by alice's gate")
        release.yield()
        await blocked.value
    }

    // MARK: - KeyService

    @Test("publish answers ok with the prekeys stored, too_many_prekeys past the cap, internal when the store fails")
    func publish() async throws {
        let store = UncertainStore()
        let fixture = try await Fixture(store: store)
        #expect(try await fixture.publish(TestKeys.keys(preKeys: 1...200), as: "alice", id: 4) == .ok(id: 4, preKeys: 200))
        let refused = try await fixture.publish(TestKeys.keys(preKeys: 201...1_001), as: "alice", id: 5)
        guard case .error(let error) = refused else {
            Issue.record("\(refused)")
            return
        }
        #expect(error.code == .tooManyPreKeys && error.id == 5)
        #expect(error.message == "too many one-time prekeys: this would make 1001, and at most 1000 may be stored; nothing was stored")
        store.failAfterPublishing.withLock { $0 = true }
        guard case .error(let failed) = try await fixture.publish(TestKeys.keys(), as: "alice", id: 6) else {
            Issue.record("a failed store is an error")
            return
        }
        #expect(failed.code == .internal && failed.id == 6)
    }

    @Test("fetch: unknown_user for a name no account has (as chat says it), no_keys for a user without keys")
    func fetchRefusals() async throws {
        let fixture = try await Fixture()
        #expect(
            try await fixture.fetch("Not A Name!")
                == .error(ProtocolError(.unknownUser, message: "no such user: Not A Name!", id: 2)))
        #expect(try await fixture.fetch("carol") == .error(ProtocolError(.unknownUser, message: "no such user: carol", id: 2)))
        #expect(
            try await fixture.fetch("Bob") == .error(ProtocolError(.noKeys, message: "bob has not published any keys", id: 2)))
    }

    @Test("fetch hands out the bundle by canonical name; below 10 left, the owner is told each time")
    func fetchAndLowNotice() async throws {
        let fixture = try await Fixture()
        let keys = TestKeys.keys(preKeys: 1...11)
        _ = try await fixture.publish(keys, as: "alice")
        #expect(try await fixture.fetch("ALICE", id: 7) == .keys(id: 7, bundle: keys.bundle(username: "alice", preKey: TestKeys.preKey(1))))
        #expect(fixture.notices.withLock { $0.isEmpty }, "10 left is not low yet")
        _ = try await fixture.fetch("alice")
        let notices = fixture.notices.withLock { $0 }
        #expect(notices.count == 1)
        #expect(notices.first?.0 == "alice")
        #expect(notices.first?.1 == .notice(code: .preKeysLow, message: "9 one-time prekeys left; publish more"))
        for _ in 0..<9 { _ = try await fixture.fetch("alice") }
        #expect(try await fixture.fetch("alice", id: 9) == .keys(id: 9, bundle: keys.bundle(username: "alice", preKey: nil)))
        #expect(fixture.notices.withLock { $0.map(\.1) }.last == .notice(code: .preKeysLow, message: "0 one-time prekeys left; publish more"))
        #expect(fixture.notices.withLock { $0.count } == 11)
        #expect(KeyService.lowPreKeysText(1) == "1 one-time prekey left; publish more")
    }

    @Test("the login's report: nothing before a publish, then the identity key and the prekeys left")
    func ownKeys() async throws {
        let fixture = try await Fixture()
        #expect(try await fixture.service.ownKeys(username: "alice", requestID: 1, on: fixture.loop).get() == .none)
        let keys = TestKeys.keys(preKeys: 1...3)
        _ = try await fixture.publish(keys, as: "alice")
        _ = try await fixture.fetch("alice")
        #expect(
            try await fixture.service.ownKeys(username: "alice", requestID: 1, on: fixture.loop).get()
                == OwnKeys(identityKey: keys.identityKey, preKeyCount: 2))
    }
}
