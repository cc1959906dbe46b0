import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared
import Testing
import TestSupport

@testable import Server

/// Registration and login through `AccountService`, with the KDF on a real thread pool and
/// futures on a real event loop, over an in-memory store.
@Suite("AccountService")
struct AccountServiceTests {
    static let fastHasher = try! PasswordHasher(parameters: .fastForTests)

    /// Runs `body` with a service over `store`, then shuts the pool and the loop down
    /// whether or not `body` threw.
    static func withService(
        store: InMemoryAccountStore = InMemoryAccountStore(),
        inbox: InMemoryInboxStore = InMemoryInboxStore(),
        keys: InMemoryKeyStore = InMemoryKeyStore(),
        files: InMemoryFileStore = InMemoryFileStore(),
        hasher: PasswordHasher = fastHasher,
        throttle: LoginThrottle = LoginThrottle(),
        _ body: (AccountService, EventLoop) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let service = AccountService(
            store: store, inbox: inbox, files: files, deleteKeys: { try await keys.deleteKeys(username: $0) }, hasher: hasher,
            throttle: throttle, threadPool: pool, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let result: Result<Void, any Error>
        do {
            try await body(service, group.next())
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
        try result.get()
    }

    /// The `ProtocolError` a future failed with, or nil if it succeeded or failed otherwise.
    static func protocolError<Value: Sendable>(_ future: EventLoopFuture<Value>) async -> ProtocolError? {
        do {
            _ = try await future.get()
            return nil
        } catch {
            return error as? ProtocolError
        }
    }

    // MARK: - Register

    @Test("register stores the account under the normalised name and answers with it")
    func registerNormalises() async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            let name = try await service.register(id: 1, username: "Alice", password: "password1", on: loop).get()
            #expect(name == "alice")
            let account = try #require(try await store.find(username: "alice"))
            #expect(account.passwordHash.parameters == .fastForTests)
            #expect(try account.passwordHash.verify(password: "password1"))
            #expect(try await store.find(username: "Alice") == nil)
        }
    }

    @Test("registering a taken name, in any case, fails with username_taken and the request id")
    func registerTaken() async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            let before = try await store.find(username: "alice")
            let error = await Self.protocolError(
                service.register(id: 7, username: "ALICE", password: "other password", on: loop))
            #expect(error == ProtocolError(.usernameTaken, id: 7))
            #expect(try await store.find(username: "alice") == before)
        }
    }

    @Test(
        "an invalid username is refused with invalid_username and the request id",
        arguments: ["", "alice smith", "al/ice", String(repeating: "x", count: 33)]
    )
    func registerInvalidUsername(username: String) async throws {
        try await Self.withService { service, loop in
            let error = await Self.protocolError(
                service.register(id: 3, username: username, password: "password1", on: loop))
            #expect(error?.code == .invalidUsername)
            #expect(error?.id == 3)
        }
    }

    @Test(
        "an invalid password is refused with invalid_password and the request id",
        arguments: ["", "short", String(repeating: "p", count: 1025)]
    )
    func registerInvalidPassword(password: String) async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            let error = await Self.protocolError(
                service.register(id: 4, username: "alice", password: password, on: loop))
            #expect(error?.code == .invalidPassword)
            #expect(error?.id == 4)
            let stored = try await store.find(username: "alice")
            #expect(stored == nil)
        }
    }

    @Test("a storage failure is answered internal, with the request id")
    func registerStorageFailure() async throws {
        let store = InMemoryAccountStore()
        await store.close()
        try await Self.withService(store: store) { service, loop in
            let error = await Self.protocolError(
                service.register(id: 5, username: "alice", password: "password1", on: loop))
            #expect(error?.code == .internal)
            #expect(error?.id == 5)
        }
    }

    // MARK: - Login

    @Test("login with the right password answers the normalised name, in any case")
    func loginRight() async throws {
        try await Self.withService { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            let name = try await service.login(
                id: 2, username: "Alice", password: "password1", address: "10.0.0.1", on: loop
            ).get()
            #expect(name.username == "alice")
        }
    }

    @Test("a wrong password and an unknown user get the very same bad_credentials error")
    func badCredentials() async throws {
        try await Self.withService { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            let wrongPassword = await Self.protocolError(
                service.login(id: 2, username: "alice", password: "password2", address: "10.0.0.1", on: loop))
            let unknownUser = await Self.protocolError(
                service.login(id: 2, username: "bob", password: "password1", address: "10.0.0.2", on: loop))
            let impossibleName = await Self.protocolError(
                service.login(id: 2, username: "no such user!", password: "password1", address: "10.0.0.3", on: loop))
            #expect(wrongPassword == ProtocolError(.badCredentials, id: 2))
            #expect(unknownUser == wrongPassword)
            #expect(impossibleName == wrongPassword)
        }
    }

    @Test("after five failures the next attempt is throttled, even with the right password")
    func throttled() async throws {
        let throttle = LoginThrottle(baseDelay: 60)
        try await Self.withService(throttle: throttle) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            for id in 10..<15 {
                let error = await Self.protocolError(
                    service.login(id: id, username: "alice", password: "wrong password", address: "10.0.0.1", on: loop))
                #expect(error == ProtocolError(.badCredentials, id: id))
            }
            let error = try #require(
                await Self.protocolError(
                    service.login(id: 20, username: "ALICE", password: "password1", address: "10.0.0.9", on: loop)))
            #expect(error.code == .throttled)
            #expect(error.id == 20)
            let retryAfter = try #require(error.retryAfter)
            #expect((1...60).contains(retryAfter))
        }
    }

    @Test("a successful login clears the username's failures")
    func successResetsThrottle() async throws {
        let throttle = LoginThrottle(baseDelay: 60)
        try await Self.withService(throttle: throttle) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            for (round, address) in ["10.0.0.1", "10.0.0.2"].enumerated() {
                for id in 0..<4 {
                    _ = await Self.protocolError(
                        service.login(id: id, username: "alice", password: "wrong password", address: address, on: loop))
                }
                // Four failures from each address: without the reset the fifth for alice would block her.
                let name = try await service.login(
                    id: 100 + round, username: "alice", password: "password1", address: address, on: loop
                ).get()
                #expect(name.username == "alice")
            }
            let error = await Self.protocolError(
                service.login(id: 200, username: "alice", password: "wrong password", address: "10.0.0.3", on: loop))
            #expect(error?.code == .badCredentials)
        }
    }

    @Test("a hash made with older parameters is upgraded to the current ones at login")
    func rehashOnLogin() async throws {
        let store = InMemoryAccountStore()
        let old = try Self.fastHasher.hash(password: "password1")
        try await store.create(Account(username: try Username("alice"), passwordHash: old))
        let current = ScryptParameters(logN: 11, r: 8, p: 1)
        #expect(old.needsRehash(current: current))

        try await Self.withService(store: store, hasher: try PasswordHasher(parameters: current)) { service, loop in
            let name = try await service.login(
                id: 1, username: "alice", password: "password1", address: "10.0.0.1", on: loop
            ).get()
            #expect(name.username == "alice")
        }
        let upgraded = try #require(try await store.find(username: "alice")).passwordHash
        #expect(upgraded.parameters == current)
        #expect(upgraded.needsRehash(current: current) == false)
        #expect(upgraded.salt != old.salt)
        #expect(try upgraded.verify(password: "password1"))
    }

    @Test("a hash with the current parameters is left alone at login")
    func noRehashWhenCurrent() async throws {
        let store = InMemoryAccountStore()
        let stored = try Self.fastHasher.hash(password: "password1")
        try await store.create(Account(username: try Username("alice"), passwordHash: stored))
        try await Self.withService(store: store) { service, loop in
            _ = try await service.login(
                id: 1, username: "alice", password: "password1", address: "10.0.0.1", on: loop
            ).get()
        }
        #expect(try await store.find(username: "alice")?.passwordHash == stored)
    }

    @Test("a failed login does not rehash")
    func noRehashOnFailure() async throws {
        let store = InMemoryAccountStore()
        let old = try Self.fastHasher.hash(password: "password1")
        try await store.create(Account(username: try Username("alice"), passwordHash: old))
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: 11, r: 8, p: 1))
        try await Self.withService(store: store, hasher: hasher) { service, loop in
            let error = await Self.protocolError(
                service.login(id: 1, username: "alice", password: "password2", address: "10.0.0.1", on: loop))
            #expect(error?.code == .badCredentials)
        }
        #expect(try await store.find(username: "alice")?.passwordHash == old)
    }

    // MARK: - Operator's state and the user's own requests

    @Test("a locked account: account_locked with the right password, bad_credentials with a wrong one")
    func lockedLogin() async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            _ = try await store.modify(username: "alice") { $0.isLocked = true }
            let right = await Self.protocolError(
                service.login(id: 2, username: "alice", password: "password1", address: "10.0.0.1", on: loop))
            #expect(right == ProtocolError(.accountLocked, id: 2))
            let wrong = await Self.protocolError(
                service.login(id: 3, username: "alice", password: "password2", address: "10.0.0.1", on: loop))
            #expect(wrong == ProtocolError(.badCredentials, id: 3))
            #expect(try await store.find(username: "alice")?.lastLoginAt == nil, "a refused login is not recorded")
        }
    }

    @Test("a login records its time, to the second")
    func lastLogin() async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            let before = Date().timeIntervalSince1970.rounded(.down)
            let grant = try await service.login(id: 2, username: "alice", password: "password1", address: "10.0.0.1", on: loop).get()
            #expect(grant == LoginGrant(username: "alice", mustChangePassword: false))
            let recorded = try #require(try await store.find(username: "alice")?.lastLoginAt).timeIntervalSince1970
            #expect(recorded >= before && recorded <= Date().timeIntervalSince1970)
            #expect(recorded == recorded.rounded(.down))
        }
    }

    @Test("a one-time password logs in with must-change; passwd must choose another, and clears it")
    func oneTimePassword() async throws {
        let store = InMemoryAccountStore()
        try await Self.withService(store: store) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            let oneTime = try Self.fastHasher.hash(password: "one-time-pw")
            _ = try await store.modify(username: "alice") { account in
                account.passwordHash = oneTime
                account.mustChangePassword = true
            }
            let grant = try await service.login(id: 2, username: "alice", password: "one-time-pw", address: "10.0.0.1", on: loop).get()
            #expect(grant.mustChangePassword)
            let same = await Self.protocolError(
                service.changePassword(
                    id: 3, username: "alice", password: "one-time-pw", newPassword: "one-time-pw", address: "10.0.0.1", on: loop))
            #expect(same?.code == .invalidPassword)
            try await service.changePassword(
                id: 4, username: "alice", password: "one-time-pw", newPassword: "mine-now-1", address: "10.0.0.1", on: loop
            ).get()
            let account = try #require(try await store.find(username: "alice"))
            #expect(!account.mustChangePassword)
            #expect(try account.passwordHash.verify(password: "mine-now-1"))
            let again = try await service.login(id: 5, username: "alice", password: "mine-now-1", address: "10.0.0.1", on: loop).get()
            #expect(!again.mustChangePassword)
        }
    }

    @Test("delete_account checks the password, then removes account, keys, inbox and files")
    func deleteAccount() async throws {
        let store = InMemoryAccountStore()
        let inbox = InMemoryInboxStore()
        let keys = InMemoryKeyStore()
        let files = InMemoryFileStore()
        try await Self.withService(store: store, inbox: inbox, keys: keys, files: files) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
            _ = try await keys.publish(TestKeys.keys(preKeys: 1...3), username: "alice")
            _ = try await inbox.append(StoredMessage.test(from: "bob", to: "alice"))
            _ = try await files.begin(FileStoreTests.file(1, from: "alice", to: "bob"), limits: FileLimits())
            _ = try await files.begin(FileStoreTests.file(2, from: "carol", to: "alice"), limits: FileLimits())
            let wrong = await Self.protocolError(
                service.deleteAccount(id: 2, username: "alice", password: "password2", address: "10.0.0.1", on: loop))
            #expect(wrong == ProtocolError(.badCredentials, message: "the password is wrong", id: 2))
            #expect(try await store.find(username: "alice") != nil)
            try await service.deleteAccount(id: 3, username: "alice", password: "password1", address: "10.0.0.1", on: loop).get()
            #expect(try await store.find(username: "alice") == nil)
            #expect(try await keys.identityKey(username: "alice") == nil)
            #expect(try await inbox.counts(for: "alice") == [:])
            #expect(try await files.usage() == [:])
            #expect(try await files.file(FileStoreTests.file(1).fileID) == nil)
        }
    }

    @Test("registering a name clears keys, messages and files an interrupted deletion left under it")
    func registerClearsLeftovers() async throws {
        let inbox = InMemoryInboxStore()
        let keys = InMemoryKeyStore()
        let files = InMemoryFileStore()
        _ = try await keys.publish(TestKeys.keys(preKeys: 1...3), username: "alice")
        _ = try await inbox.append(StoredMessage.test(from: "bob", to: "alice"))
        _ = try await files.begin(FileStoreTests.file(1, from: "bob", to: "alice"), limits: FileLimits())
        try await Self.withService(inbox: inbox, keys: keys, files: files) { service, loop in
            _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
        }
        #expect(try await keys.identityKey(username: "alice") == nil)
        #expect(try await inbox.counts(for: "alice") == [:])
        #expect(try await files.files(to: "alice") == [])
    }
}
