import ChatSession
import Foundation
import Shared
import Testing
import TestSupport

/// The key frames against the real chat-server, through the client session library: keys
/// published and handed out (each one-time prekey once), the owner told when few are left,
/// what login and chat report, and a send refused once the partner's identity has changed.
@Suite("End-to-end encryption keys", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct KeyTests {
    private static func loggedIn(_ name: String, _ server: ServerProcess, register: Bool = true) async throws -> SessionClient {
        try await SessionClient.loggedIn(name, port: server.port, caFile: server.certificates.caFile, register: register).client
    }

    /// The code a refused request carried; nil if it was not refused.
    private static func refusal(_ request: () async throws -> Void) async -> ErrorCode? {
        do {
            try await request()
            return nil
        } catch SessionError.refused(let error) {
            return error.code
        } catch {
            return .unknown("\(error)")
        }
    }

    @Test("published keys are handed out to others, each one-time prekey once, even to fetches at once; unknown users and users without keys are refused")
    func publishThenFetch() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let alice = try await Self.loggedIn("alice", server)
        #expect(alice.login == LoginResult(username: "alice", identityKey: nil, preKeyCount: nil))
        let keys = TestKeys.keys(preKeys: 1...6)
        #expect(try await alice.connection.publishKeys(keys) == 6)

        let fetchers = [try await Self.loggedIn("bob", server), try await Self.loggedIn("carol", server)]
        let bundles = try await withThrowingTaskGroup(of: [PublishedBundle].self) { group in
            for fetcher in fetchers {
                let connection = fetcher.connection
                group.addTask {
                    var bundles: [PublishedBundle] = []
                    for _ in 0..<4 { bundles.append(try await connection.fetchKeys(for: "Alice")) }
                    return bundles
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(bundles.count == 8)
        #expect(bundles.compactMap(\.preKey?.id).sorted() == Array(1...6), "each prekey once")
        #expect(bundles.filter { $0.preKey == nil }.count == 2)
        for bundle in bundles {
            #expect(bundle.username == "alice" && bundle.identityKey == keys.identityKey)
            #expect(bundle.registrationID == keys.registrationID && bundle.signedPreKey == keys.signedPreKey)
            if let preKey = bundle.preKey { #expect(preKey == TestKeys.preKey(preKey.id)) }
        }

        let bob = fetchers[0].connection
        #expect(await Self.refusal { _ = try await bob.fetchKeys(for: "nobody") } == .unknownUser)
        #expect(await Self.refusal { _ = try await bob.fetchKeys(for: "carol") } == .noKeys)
        #expect(await Self.refusal { _ = try await bob.publishKeys(TestKeys.keys(identity: 2, preKeys: 1...200)) } == nil)
        for batch in 1..<5 {
            _ = try await bob.publishKeys(TestKeys.keys(identity: 2, preKeys: (batch * 200 + 1)...(batch * 200 + 200)))
        }
        #expect(await Self.refusal { _ = try await bob.publishKeys(TestKeys.keys(identity: 2, preKeys: [5_000])) } == .tooManyPreKeys)
        for client in [alice] + fetchers { await client.close() }
    }

    @Test("the owner is told when a fetch leaves fewer than 10 one-time prekeys; login reports the keys, after a restart too")
    func lowNoticeAndLogin() async throws {
        let certificates = try CertificateFixture.shared()
        var server = try await ServerProcess(certificates: certificates)
        let alice = try await Self.loggedIn("alice", server)
        let keys = TestKeys.keys(preKeys: 1...11)
        #expect(try await alice.connection.publishKeys(keys) == 11)
        let bob = try await Self.loggedIn("bob", server)
        _ = try await bob.connection.fetchKeys(for: "alice")
        _ = try await bob.connection.fetchKeys(for: "alice")
        // The first fetch left 10, which is not low; the second left 9.
        var notices: [String] = []
        while notices.isEmpty {
            if case .notice(.preKeysLow, let message) = try await alice.nextEvent() { notices.append(message) }
        }
        #expect(notices == ["9 one-time prekeys left; publish more"])
        await alice.close()
        await bob.close()

        let again = try await Self.loggedIn("alice", server, register: false)
        #expect(again.login == LoginResult(username: "alice", identityKey: keys.identityKey, preKeyCount: 9))
        await again.close()

        // Synced before the ok: a restart changes nothing.
        #expect(server.stop() == 0)
        server = try await ServerProcess(certificates: certificates, dataDirectory: server.dataDirectory, workDirectory: server.workDirectory)
        defer { server.stop() }
        let restarted = try await Self.loggedIn("alice", server, register: false)
        #expect(restarted.login == LoginResult(username: "alice", identityKey: keys.identityKey, preKeyCount: 9))
        let carol = try await Self.loggedIn("carol", server)
        #expect(try await carol.connection.fetchKeys(for: "alice").preKey?.id == 3, "1 and 2 stay handed out")
        await restarted.close()
        await carol.close()
    }

    @Test("chat reports the partner's identity key; after they publish a new one mid-chat, send is refused identity_changed until chat again")
    func identityChangedMidChat() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let alice = try await Self.loggedIn("alice", server)
        let bob = try await Self.loggedIn("bob", server)
        let first = TestKeys.keys(identity: 1, preKeys: 1...20)
        _ = try await alice.connection.publishKeys(first)
        #expect(try await bob.connection.chat(with: "Alice") == ChatOpened(username: "alice", identityKey: first.identityKey))
        #expect(try await alice.connection.chat(with: "bob") == ChatOpened(username: "bob", identityKey: nil))
        try await bob.waitForNotice(.paired)

        let sent = try await bob.connection.send("to the first device")
        #expect(sent.status == .sent)
        #expect(try await alice.nextMessage().body == "to the first device")

        // alice reinstalls while the chat is open.
        let second = TestKeys.keys(identity: 2, preKeys: 1...20)
        #expect(try await alice.connection.publishKeys(second) == 20)
        var refused: ProtocolError?
        do {
            _ = try await bob.connection.send("to a device that is gone")
        } catch SessionError.refused(let error) {
            refused = error
        }
        #expect(refused?.code == .identityChanged)
        #expect(refused?.message == "alice's identity key changed; open the chat again")

        #expect(try await bob.connection.chat(with: "alice") == ChatOpened(username: "alice", identityKey: second.identityKey))
        #expect(try await bob.connection.send("to the new device").status == .sent)
        // The refused message never reached alice: the next one she gets is the new one.
        #expect(try await alice.nextMessage().body == "to the new device")
        #expect(!server.logs.contains("device"), "message bodies never reach the logs")
        await alice.close()
        await bob.close()
    }

    @Test("two servers on one PostgreSQL database: keys published through one are handed out through both, each prekey once")
    func twoServersOnePostgres() async throws {
        let certificates = try CertificateFixture.shared()
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let url = "postgres://chat@/\(database)?host=\(cluster.socketDirectory)"
        let servers = [
            try await ServerProcess(certificates: certificates, store: url),
            try await ServerProcess(certificates: certificates, store: url),
        ]
        defer { for server in servers { server.stop() } }
        let alice = try await Self.loggedIn("alice", servers[0])
        let keys = TestKeys.keys(preKeys: 1...10)
        #expect(try await alice.connection.publishKeys(keys) == 10)
        let bob = try await Self.loggedIn("bob", servers[0])
        let carol = try await Self.loggedIn("carol", servers[1])
        let ids = try await withThrowingTaskGroup(of: [Int?].self) { group in
            for fetcher in [bob, carol] {
                let connection = fetcher.connection
                group.addTask {
                    var ids: [Int?] = []
                    for _ in 0..<6 { ids.append(try await connection.fetchKeys(for: "alice").preKey?.id) }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.compactMap { $0 }.sorted() == Array(1...10))
        #expect(ids.filter { $0 == nil }.count == 2)
        await alice.close()
        let elsewhere = try await Self.loggedIn("alice", servers[1], register: false)
        #expect(elsewhere.login == LoginResult(username: "alice", identityKey: keys.identityKey, preKeyCount: 0))
        for client in [elsewhere, bob, carol] { await client.close() }
    }
}
