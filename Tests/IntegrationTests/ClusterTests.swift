import ChatSession
import Foundation
import Shared
import Testing
import TestSupport

/// Two real chat-server processes on one throw-away PostgreSQL database: presence and live
/// delivery across the nodes. Across nodes a message travels through the recipient's inbox,
/// so its sender hears `stored` (committed), then `delivered` once shown.
@Suite("Several servers on one PostgreSQL database", .timeLimit(.minutes(TestTimeouts.minutes(4))))
struct ClusterTests {
    /// Two servers on a fresh database.
    static func twoNodes(arguments: [String] = []) async throws -> (nodes: [ServerProcess], cluster: PostgresCluster, database: String) {
        let certificates = try CertificateFixture.shared()
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let url = "postgres://chat@/\(database)?host=\(cluster.socketDirectory)"
        var nodes: [ServerProcess] = []
        for name in ["node-a", "node-b"] {
            nodes.append(try await ServerProcess(certificates: certificates, store: url, arguments: ["--node-id", name] + arguments))
        }
        return (nodes, cluster, database)
    }

    static func loggedIn(_ name: String, on node: ServerProcess, register: Bool = true) async throws -> SessionClient {
        try await SessionClient.loggedIn(name, port: node.port, caFile: node.certificates.caFile, register: register).client
    }

    /// Events up to the next notice with `code`, whose text it returns.
    static func notice(_ code: NoticeCode, on client: SessionClient) async throws -> String {
        while true {
            switch try await client.nextEvent() {
            case .notice(code, let message): return message
            case .closed(let reason): throw FixtureError("closed before \(code): \(reason)")
            default: continue
            }
        }
    }

    /// Polls `who` until `done` holds for its answer (or about `seconds` pass); returns the
    /// last answer.
    static func who(
        _ client: SessionClient, within seconds: Double = 5, until done: ([PresenceEntry]) -> Bool
    ) async throws -> [PresenceEntry] {
        let deadline = Date().addingTimeInterval(TestTimeouts.scaled(seconds))
        var users = try await client.connection.who()
        while !done(users), Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            users = try await client.connection.who()
        }
        return users
    }

    @Test("alice on one node, bob on the other: they pair, chat both ways, and each hears stored then delivered")
    func chatAcrossNodes() async throws {
        let (nodes, _, _) = try await Self.twoNodes()
        defer { for node in nodes { node.stop() } }
        let alice = try await Self.loggedIn("alice", on: nodes[0])
        let bob = try await Self.loggedIn("bob", on: nodes[1])

        _ = try await alice.connection.chat(with: "bob")
        #expect(try await Self.notice(.invited, on: bob) == "alice wants to chat - /chat alice to answer")
        _ = try await bob.connection.chat(with: "alice")
        #expect(try await Self.notice(.paired, on: alice) == "now chatting with bob")
        #expect(try await Self.who(alice) { $0 == [PresenceEntry(username: "bob", status: .chatting)] }
            == [PresenceEntry(username: "bob", status: .chatting)])

        for round in 1...3 {
            let sent = try await alice.connection.send("alice says \(round)")
            #expect(sent.status == .stored, "across nodes a message goes through the inbox")
            let received = try await bob.nextMessage()
            #expect(received.body == "alice says \(round)" && received.from == "alice" && received.id == sent.messageID)
            bob.connection.acknowledge(received)
            try await alice.waitForDelivered(sent.messageID)

            let reply = try await bob.connection.send("bob answers \(round)")
            let answer = try await alice.nextMessage()
            #expect(answer.body == "bob answers \(round)" && answer.id == reply.messageID)
            alice.connection.acknowledge(answer)
            try await bob.waitForDelivered(reply.messageID)
        }

        // Acknowledged: gone from the inbox.
        try await alice.connection.leave()
        #expect(try await Self.notice(.partnerLeft, on: bob) == "alice left the chat")
        #expect(try await Self.who(bob) { $0 == [PresenceEntry(username: "alice", status: .free)] }
            == [PresenceEntry(username: "alice", status: .free)])
        await alice.close()
        #expect(try await Self.who(bob) { $0.isEmpty }.isEmpty)
        await bob.close()
        for node in nodes { #expect(!node.logs.contains("alice says"), "bodies never reach the logs") }
    }

    @Test("bob offline: alice's messages are stored and delivered when he logs in, on either node")
    func offlineThenEitherNode() async throws {
        let (nodes, _, _) = try await Self.twoNodes()
        defer { for node in nodes { node.stop() } }
        let bobFirst = try await Self.loggedIn("bob", on: nodes[1])
        await bobFirst.close()
        let alice = try await Self.loggedIn("alice", on: nodes[0])
        _ = try await alice.connection.chat(with: "bob")
        let first = try await alice.connection.send("while you were away")
        #expect(first.status == .stored)

        for (round, node) in [nodes[1], nodes[0]].enumerated() {
            let login = try await SessionClient.loggedIn("bob", port: node.port, caFile: node.certificates.caFile, register: false)
            #expect(login.summary.counts == ["alice": 1], "round \(round)")
            let bob = login.client
            _ = try await bob.connection.chat(with: "alice")
            let message = try await bob.nextMessage()
            #expect(message.stored && message.body == (round == 0 ? "while you were away" : "and again"))
            bob.connection.acknowledge(message)
            try await alice.waitForDelivered(message.id)
            // Paired now, live: through the inbox too when the nodes differ.
            let live = try await alice.connection.send("live \(round)")
            #expect(live.status == (node === nodes[0] ? .sent : .stored))
            let liveMessage = try await bob.nextMessage()
            #expect(liveMessage.body == "live \(round)")
            bob.connection.acknowledge(liveMessage)
            try await alice.waitForDelivered(live.messageID)
            try await bob.connection.logout()
            await bob.close()
            if round == 0 {
                _ = try await Self.notice(.partnerLeft, on: alice)
                #expect(try await alice.connection.send("and again").status == .stored)
            }
        }
        await alice.close()
    }

    @Test("a new identity key published through one node refuses sends through the other until chat is opened again; a prekey top-up does not")
    func identityChangedAcrossNodes() async throws {
        let (nodes, _, _) = try await Self.twoNodes()
        defer { for node in nodes { node.stop() } }
        let alice = try await Self.loggedIn("alice", on: nodes[1])
        let bob = try await Self.loggedIn("bob", on: nodes[0])
        let first = TestKeys.keys(identity: 1, preKeys: 1...20)
        _ = try await alice.connection.publishKeys(first)
        #expect(try await bob.connection.chat(with: "alice") == ChatOpened(username: "alice", identityKey: first.identityKey))
        _ = try await alice.connection.chat(with: "bob")
        try await bob.waitForNotice(.paired)
        #expect(try await bob.connection.send("to the first device").status == .stored)

        // More prekeys, same identity: nothing to refuse.
        _ = try await alice.connection.publishKeys(TestKeys.keys(identity: 1, preKeys: 21...30))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await bob.connection.send("still the first device").status == .stored)

        // alice reinstalls, through node B; node A hears of it.
        let second = TestKeys.keys(identity: 2, preKeys: 1...20)
        _ = try await alice.connection.publishKeys(second)
        var refused: ProtocolError?
        for _ in 0..<50 where refused == nil {
            do {
                _ = try await bob.connection.send("to a device that is gone")
                try await Task.sleep(for: .milliseconds(100))
            } catch SessionError.refused(let error) {
                refused = error
            }
        }
        #expect(refused?.code == .identityChanged)
        #expect(try await bob.connection.chat(with: "alice") == ChatOpened(username: "alice", identityKey: second.identityKey))
        #expect(try await bob.connection.send("to the new device").status == .stored)
        for client in [alice, bob] { await client.close() }
    }

    @Test("failed logins count across the nodes: four on one and one on the other, and both make the next attempt wait")
    func throttlingAcrossNodes() async throws {
        let (nodes, _, _) = try await Self.twoNodes(arguments: ["--login-backoff", "60"])
        defer { for node in nodes { node.stop() } }
        await (try await Self.loggedIn("carol", on: nodes[0])).close()
        /// The code of a login's refusal; nil when it succeeded.
        func attempt(on node: ServerProcess, password: String) async throws -> ErrorCode? {
            let client = try await SessionClient.connect(port: node.port, caFile: node.certificates.caFile)
            var code: ErrorCode?
            do {
                _ = try await client.connection.login(username: "carol", password: password)
            } catch SessionError.refused(let error) {
                code = error.code
            }
            await client.close()
            return code
        }
        for number in 1...5 {
            #expect(try await attempt(on: nodes[number == 5 ? 1 : 0], password: "guess \(number)xx") == .badCredentials)
        }
        for node in nodes {
            #expect(try await attempt(on: node, password: "password123") == .throttled, "even the right password waits")
        }
    }

    @Test("logging in on the other node displaces the first session and its partner is told; who lists every node")
    func displacementAndWho() async throws {
        let (nodes, _, _) = try await Self.twoNodes()
        defer { for node in nodes { node.stop() } }
        let alice = try await Self.loggedIn("alice", on: nodes[0])
        let bob = try await Self.loggedIn("bob", on: nodes[1])
        let carol = try await Self.loggedIn("carol", on: nodes[0])
        _ = try await alice.connection.chat(with: "bob")
        _ = try await bob.connection.chat(with: "alice")
        try await alice.waitForNotice(.paired)
        let everyone = [PresenceEntry(username: "alice", status: .chatting), PresenceEntry(username: "bob", status: .chatting)]
        #expect(try await Self.who(carol) { $0 == everyone } == everyone)

        // alice again, on bob's node: the session on node A is told and closed.
        let again = try await SessionClient.loggedIn(
            "alice", port: nodes[1].port, caFile: nodes[1].certificates.caFile, register: false)
        #expect(try await Self.notice(.displaced, on: alice) == "logged in from elsewhere")
        #expect(try await Self.notice(.partnerLeft, on: bob) == "alice logged in elsewhere and left the chat")
        let after = [PresenceEntry(username: "alice", status: .free), PresenceEntry(username: "bob", status: .free)]
        #expect(try await Self.who(carol) { $0 == after } == after)
        #expect(try await Self.who(again.client) { $0.count == 2 }.map(\.username) == ["bob", "carol"])
        // bob still chose alice: her new session is invited and pairs with one chat.
        _ = try await again.client.connection.chat(with: "bob")
        try await bob.waitForNotice(.paired)
        let sent = try await again.client.connection.send("same node now")
        #expect(sent.status == .sent)
        #expect(try await bob.nextMessage().body == "same node now")
        for client in [alice, bob, carol, again.client] { await client.close() }
    }

    @Test("PostgreSQL restarts under two nodes: each says so once, sends across are refused not_stored meanwhile, and both recover without a restart")
    func databaseRestart() async throws {
        // A cluster of its own: stopping the shared one would break the tests running beside.
        let cluster = try await PostgresCluster.offCooperativeThreads { try PostgresCluster() }
        defer { cluster.destroy() }
        try await cluster.query("postgres", "CREATE DATABASE chat")
        let url = "postgres://chat@/chat?host=\(cluster.socketDirectory)"
        let certificates = try CertificateFixture.shared()
        let nodes = [
            try await ServerProcess(certificates: certificates, store: url, arguments: ["--node-id", "node-a"]),
            try await ServerProcess(certificates: certificates, store: url, arguments: ["--node-id", "node-b"]),
        ]
        defer { for node in nodes { node.stop() } }
        let alice = try await Self.loggedIn("alice", on: nodes[0])
        let bob = try await Self.loggedIn("bob", on: nodes[1])
        _ = try await alice.connection.chat(with: "bob")
        _ = try await bob.connection.chat(with: "alice")
        try await alice.waitForNotice(.paired)

        try await PostgresCluster.offCooperativeThreads { try cluster.stop() }
        var refused: ProtocolError?
        do {
            _ = try await alice.connection.send("while the database is away")
        } catch SessionError.refused(let error) {
            refused = error
        }
        #expect(refused?.code == .notStored)
        try await Task.sleep(for: .seconds(2))
        try await PostgresCluster.offCooperativeThreads { try cluster.start() }

        // Back: the pair still stands on both nodes, and messages cross again.
        var sent: SentMessage?
        for _ in 0..<100 where sent == nil {
            sent = try? await alice.connection.send("the database is back")
            if sent == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(sent?.status == .stored)
        let message = try await bob.nextMessage()
        #expect(message.body == "the database is back")
        bob.connection.acknowledge(message)
        if let sent { try await alice.waitForDelivered(sent.messageID) }
        #expect(try await Self.who(alice) { $0 == [PresenceEntry(username: "bob", status: .chatting)] }
            == [PresenceEntry(username: "bob", status: .chatting)])
        for node in nodes {
            let logs = node.logs
            #expect(logs.components(separatedBy: "lost the cluster connection").count == 2, "said once: \(logs)")
            #expect(logs.contains("the cluster connection is back"))
        }
        for client in [alice, bob] { await client.close() }
    }

    @Test("kill -9 of bob's node while alice sends steadily: every message she was answered for reaches bob once, on the other node; her session carries on; the dead node's users leave who within seconds")
    func nodeDiesMidStream() async throws {
        let (nodes, _, _) = try await Self.twoNodes(arguments: ["--message-rate", "100", "--message-burst", "100"])
        defer { for node in nodes { node.stop() } }
        let alice = try await Self.loggedIn("alice", on: nodes[0])
        let carol = try await Self.loggedIn("carol", on: nodes[0])
        let bob = try await Self.loggedIn("bob", on: nodes[1])
        _ = try await alice.connection.chat(with: "bob")
        _ = try await bob.connection.chat(with: "alice")
        try await alice.waitForNotice(.paired)

        // bob shows and acknowledges what arrives, until his node goes.
        let shownOnB = Task { () -> [String] in
            var ids: [String] = []
            while true {
                switch try? await bob.nextEvent() {
                case .message(let message)?:
                    ids.append(message.id)
                    bob.connection.acknowledge(message)
                case .closed?, nil:
                    return ids
                default:
                    continue
                }
            }
        }
        var answered: [String: String] = [:]
        var killedAt: Date?
        for number in 1...120 {
            if number == 40 {
                nodes[1].stop(signal: SIGKILL)
                killedAt = Date()
            }
            let body = "steady \(number)"
            do {
                let sent = try await alice.connection.send(body)
                answered[sent.messageID] = body
            } catch SessionError.refused(let error) {
                Issue.record("message \(number) refused: \(error)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let idsShownOnB = await shownOnB.value
        #expect(idsShownOnB.count >= 10, "the stream was live before the kill")

        // The dead node's users leave who, within seconds.
        let gone = try await Self.who(carol, within: 20) { !$0.map(\.username).contains("bob") }
        #expect(!gone.map(\.username).contains("bob"))
        if let killedAt {
            #expect(Date().timeIntervalSince(killedAt) < TestTimeouts.scaled(15), "a dead node is noticed within seconds")
        }
        _ = try await Self.notice(.partnerDisconnected, on: alice)
        let afterTheKill = try await alice.connection.send("after the kill")
        #expect(afterTheKill.status == .stored, "alice's session carries on")
        answered[afterTheKill.messageID] = "after the kill"

        // bob on the surviving node: everything answered arrives, once.
        let login = try await SessionClient.loggedIn(
            "bob", port: nodes[0].port, caFile: nodes[0].certificates.caFile, register: false)
        let bobAgain = login.client
        _ = try await bobAgain.connection.chat(with: "alice")
        var shownOnA: [String] = []
        var bodies: Set<String> = []
        let expectedBodies = Set(answered.filter { !idsShownOnB.contains($0.key) }.values)
        while !expectedBodies.isSubset(of: bodies) {
            let message = try await bobAgain.nextMessage()
            shownOnA.append(message.id)
            bodies.insert(message.body)
            bobAgain.connection.acknowledge(message)
        }
        #expect(Set(shownOnA).count == shownOnA.count, "nothing twice in one session")
        // Acknowledged on node B just before it died may come again: the client drops those
        // by id, as chat-client does with its history.
        #expect(Set(answered.keys).isSubset(of: Set(idsShownOnB).union(shownOnA)), "every answered message reached bob")
        #expect(Set(shownOnA).isSubset(of: Set(answered.keys)), "and nothing else")
        for client in [alice, carol, bobAgain] { await client.close() }
    }
}
