import Foundation
import Logging
import Shared
import Testing
import TestSupport

@testable import Server

/// The operator's requests on in-memory stores, with a stand-in for the running server's
/// sessions: what each changes, what it answers, and which sessions it closes.
@Suite("AdminService")
struct AdminServiceTests {
    static let hasher = try! PasswordHasher(parameters: .fastForTests)

    /// The running servers' sessions, as far as the service can tell.
    final class Sessions: LiveSessions {
        private let state = Locked((online: Set<String>(), closed: [(String, NoticeCode)](), forgotten: [String]()))

        init(online: Set<String>) {
            state.withLock { $0.online = online }
        }

        var closed: [(String, NoticeCode)] { state.withLock { $0.closed } }
        var forgotten: [String] { state.withLock { $0.forgotten } }

        func onlineCount() async throws -> Int { state.withLock { $0.online.count } }

        func close(_ username: String, notice: NoticeCode) async -> SessionClosing {
            state.withLock { state in
                guard state.online.remove(username) != nil else { return .none }
                state.closed.append((username, notice))
                return .closed
            }
        }

        func forgetFailedLogins(of username: String) async {
            state.withLock { $0.forgotten.append(username) }
        }
    }

    struct Fixture {
        let accounts = InMemoryAccountStore()
        let inbox = InMemoryInboxStore()
        let keys = InMemoryKeyStore()
        let files = InMemoryFileStore()
        let sessions: Sessions

        func service(reach: AdminReach? = nil) -> AdminService {
            let keys = self.keys
            return AdminService(
                accounts: accounts, inbox: inbox, files: files, deleteKeys: { try await keys.deleteKeys(username: $0) },
                footprint: { StoreFootprint(description: "memory", bytes: 4_096) }, sessions: reach ?? .live(sessions),
                hasher: AdminServiceTests.hasher, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        func add(_ name: String, at seconds: Double = 1_700_000_000) async throws {
            try await accounts.create(
                Account(
                    username: try Username(name), passwordHash: try AdminServiceTests.hasher.hash(password: "password1"),
                    createdAt: Date(timeIntervalSince1970: seconds)))
        }
    }

    static func fixture(online: Set<String> = []) -> Fixture {
        Fixture(sessions: Sessions(online: online))
    }

    @Test("users lists every account with its inbox and flags, sorted")
    func users() async throws {
        let fixture = Self.fixture()
        try await fixture.add("bob")
        try await fixture.add("alice")
        let message = StoredMessage.test(from: "alice", to: "bob", body: "hello")
        _ = try await fixture.inbox.append(message)
        _ = try await fixture.accounts.modify(username: "bob") { $0.isLocked = true }
        let reply = await fixture.service().perform(.users, by: "test")
        guard case .users(let users) = reply else {
            Issue.record("not a listing: \(reply)")
            return
        }
        #expect(users.map(\.username) == ["alice", "bob"])
        #expect(users[1].inbox == InboxUsage(messages: 1, bytes: message.storageSize))
        #expect(users[1].isLocked && !users[0].isLocked)
        #expect(users[0].inbox == InboxUsage())
    }

    @Test("stats counts sessions, accounts, locked ones, inboxes, held files and the store")
    func stats() async throws {
        let fixture = Self.fixture(online: ["alice"])
        try await fixture.add("alice")
        try await fixture.add("bob")
        _ = try await fixture.accounts.modify(username: "bob") { $0.isLocked = true }
        for _ in 0..<3 { _ = try await fixture.inbox.append(StoredMessage.test(from: "alice", to: "bob", body: "12345")) }
        _ = try await fixture.files.begin(FileStoreTests.file(1, to: "bob", size: 1_000), limits: FileLimits())
        _ = try await fixture.files.begin(FileStoreTests.file(2, to: "bob", size: 500), limits: FileLimits())
        _ = try await fixture.files.begin(FileStoreTests.file(3, to: "carol", size: 70), limits: FileLimits())
        _ = try await fixture.files.begin(FileStoreTests.file(4, to: "carol", size: 9_000), limits: FileLimits())
        _ = try await fixture.files.finish(fileID: FileStoreTests.file(4).fileID, outcome: .rejected)
        let reply = await fixture.service().perform(.stats, by: "test")
        guard case .statistics(let statistics) = reply else {
            Issue.record("not statistics: \(reply)")
            return
        }
        #expect(statistics.sessions == 1)
        #expect(statistics.accounts == 2 && statistics.lockedAccounts == 1)
        #expect(statistics.inboxes == 1 && statistics.inbox.messages == 3)
        #expect(statistics.fileRecipients == 2 && statistics.fileBytes == 1_570)
        #expect(statistics.store == "memory" && statistics.storeBytes == 4_096)
        guard case .statistics(let stopped) = await fixture.service(reach: .noServer).perform(.stats, by: "test") else {
            Issue.record("not statistics")
            return
        }
        #expect(stopped.sessions == 0)
    }

    @Test("lock sets the flag and closes the live session with account_locked; unlock clears it")
    func lockAndUnlock() async throws {
        let fixture = Self.fixture(online: ["alice"])
        try await fixture.add("alice")
        let service = fixture.service()
        #expect(await service.perform(.lock("Alice"), by: "test") == .done("alice is locked; their session was closed"))
        #expect(try await fixture.accounts.find(username: "alice")?.isLocked == true)
        #expect(fixture.sessions.closed.map(\.0) == ["alice"])
        #expect(fixture.sessions.closed.map(\.1) == [.accountLocked])
        #expect(await service.perform(.lock("alice"), by: "test") == .done("alice was already locked"))
        #expect(await service.perform(.unlock("alice"), by: "test") == .done("alice is unlocked and may log in again"))
        #expect(try await fixture.accounts.find(username: "alice")?.isLocked == false)
    }

    @Test("delete removes account, keys, inbox and files and closes the session; then the user is unknown")
    func delete() async throws {
        let fixture = Self.fixture(online: ["alice"])
        try await fixture.add("alice")
        _ = try await fixture.keys.publish(TestKeys.keys(preKeys: 1...2), username: "alice")
        _ = try await fixture.inbox.append(StoredMessage.test(from: "bob", to: "alice"))
        _ = try await fixture.inbox.append(StoredMessage.test(from: "bob", to: "alice"))
        _ = try await fixture.files.begin(FileStoreTests.file(1, from: "bob", to: "alice"), limits: FileLimits())
        _ = try await fixture.files.begin(FileStoreTests.file(2, from: "alice", to: "carol"), limits: FileLimits())
        _ = try await fixture.files.begin(FileStoreTests.file(3, from: "bob", to: "carol"), limits: FileLimits())
        let service = fixture.service()
        let reply = await service.perform(.delete("alice"), by: "test")
        #expect(
            reply == .done("alice is deleted: account, published keys, 2 waiting messages, 2 files sent or held; their session was closed"))
        #expect(try await fixture.files.usage() == ["carol": 100_000])
        #expect(try await fixture.accounts.find(username: "alice") == nil)
        #expect(try await fixture.keys.identityKey(username: "alice") == nil)
        #expect(try await fixture.inbox.counts(for: "alice") == [:])
        #expect(fixture.sessions.closed.map(\.1) == [.accountDeleted])
        #expect(
            await service.perform(.delete("alice"), by: "test")
                == .failed(AdminFailure(code: .unknownUser, message: "no such user: alice")))
    }

    @Test("delete finishes what an interrupted deletion left, and says so")
    func deleteLeftovers() async throws {
        let fixture = Self.fixture()
        _ = try await fixture.keys.publish(TestKeys.keys(preKeys: 1...2), username: "alice")
        let reply = await fixture.service(reach: .noServer).perform(.delete("alice"), by: "test")
        #expect(reply == .done("alice had no account; deleted what an earlier deletion left: published keys, 0 waiting messages"))
    }

    @Test("reset-password issues a one-time password that logs in once with must-change, closes the session, clears the back-off")
    func resetPassword() async throws {
        let fixture = Self.fixture(online: ["alice"])
        try await fixture.add("alice")
        let reply = await fixture.service().perform(.resetPassword("alice"), by: "test")
        guard case .oneTimePassword("alice", let password, "their session was closed") = reply else {
            Issue.record("no password: \(reply)")
            return
        }
        #expect(password.count == 19 && password.split(separator: "-").count == 4)
        let account = try #require(try await fixture.accounts.find(username: "alice"))
        #expect(account.mustChangePassword)
        #expect(try account.passwordHash.verify(password: password))
        #expect(try account.passwordHash.verify(password: "password1") == false)
        #expect(fixture.sessions.forgotten == ["alice"])
        #expect(fixture.sessions.closed.map(\.1) == [.passwordReset])
        let again = await fixture.service().perform(.resetPassword("alice"), by: "test")
        guard case .oneTimePassword("alice", _, nil) = again else {
            Issue.record("no session to close, none said closed: \(again)")
            return
        }
    }

    @Test(
        "what became of the session is said as it was",
        arguments: [
            (SessionClosing.asked, "alice is locked; the server holding their session was told to close it (still open after the wait)"),
            (
                SessionClosing.unreached("database away"),
                "alice is locked; the other servers could not be told (database away), so a session of theirs on one of them stays open until it ends"
            ),
        ])
    func sessionOutcomes(_ outcome: SessionClosing, _ text: String) async throws {
        struct Fixed: LiveSessions {
            let outcome: SessionClosing
            func onlineCount() async throws -> Int { 1 }
            func close(_ username: String, notice: NoticeCode) async -> SessionClosing { outcome }
            func forgetFailedLogins(of username: String) async {}
        }
        let fixture = Self.fixture()
        try await fixture.add("alice")
        let reply = await fixture.service(reach: .live(Fixed(outcome: outcome))).perform(.lock("alice"), by: "test")
        #expect(reply == .done(text))
    }

    @Test(
        "unknown users and impossible names change nothing",
        arguments: [AdminRequest.lock("zed"), .unlock("zed"), .delete("zed"), .resetPassword("zed"), .lock("No Such!")])
    func refusals(_ request: AdminRequest) async throws {
        let fixture = Self.fixture()
        try await fixture.add("alice")
        guard case .failed(let failure) = await fixture.service().perform(request, by: "test") else {
            Issue.record("not refused")
            return
        }
        #expect(failure.code == (request.username == "zed" ? .unknownUser : .invalidRequest))
        #expect(try await fixture.accounts.all().map(\.username) == ["alice"])
    }

    @Test("one-time passwords: 16 characters of the unambiguous alphabet, in four groups, never twice")
    func oneTimePasswords() throws {
        var seen = Set<String>()
        for _ in 0..<200 {
            let password = try OneTimePassword.generate()
            let characters = password.filter { $0 != "-" }
            #expect(characters.count == 16)
            #expect(characters.allSatisfy { OneTimePassword.alphabet.contains($0) }, "\(password)")
            #expect(seen.insert(password).inserted)
            #expect((try? PasswordPolicy.validate(password)) != nil)
        }
    }
}
