import ChatSession
import NIOCore
import Shared
import Testing
import TestSupport

/// The session library against the real chat-server over real TLS.
@Suite("Client sessions against chat-server")
struct SessionIntegrationTests {
    @Test("two sessions pair, a message arrives once, and its ack comes back as delivered", .timeLimit(.minutes(TestTimeouts.minutes(2))))
    func liveMessageAndDelivered() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let caFile = server.certificates.caFile
        let (alice, _) = try await SessionClient.loggedIn("alice", port: server.port, caFile: caFile, register: true)
        let (bob, summary) = try await SessionClient.loggedIn("bob", port: server.port, caFile: caFile, register: true)
        #expect(summary.counts.isEmpty && summary.expired == 0)
        #expect(alice.connection.serverAgent.hasPrefix("chat-server/"))

        #expect(try await alice.connection.chat(with: "BOB").username == "bob", "the canonical name comes back")
        #expect(try await bob.connection.chat(with: "alice").username == "alice")
        try await alice.waitForNotice(.paired)

        let sent = try await alice.connection.send("hello bob")
        #expect(sent.status == .sent)
        let received = try await bob.nextMessage()
        #expect(received.id == sent.messageID && received.body == "hello bob" && received.from == "alice")
        bob.connection.acknowledge(received)
        try await alice.waitForDelivered(sent.messageID)

        let users = try await alice.connection.who()
        #expect(users == [PresenceEntry(username: "bob", status: .chatting)])
        await alice.close()
        await bob.close()
    }

    @Test("a connector given a source address connects from it, and the server serves it", .timeLimit(.minutes(TestTimeouts.minutes(2))))
    func connectsFromSourceAddress() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let configuration = SessionConfiguration(port: server.port, caFile: server.certificates.caFile, agent: "source-test/1")
        let connector = try SessionConnector(configuration: configuration)
            .connecting(from: SocketAddress(ipAddress: "127.0.0.3", port: 0))
        let session = try await connector.open().get()
        #expect(session.channel.localAddress?.ipAddress == "127.0.0.3")
        let agent = try await session.withHandler { $0.hello() }.get()
        #expect(agent.hasPrefix("chat-server/"))
        try await session.close().get()
    }

    @Test("an unacknowledged stored message comes again in the next session, and is shown once", .timeLimit(.minutes(TestTimeouts.minutes(2))))
    func redeliveryAfterReconnect() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let caFile = server.certificates.caFile
        let (carol, _) = try await SessionClient.loggedIn("carol", port: server.port, caFile: caFile, register: true)
        try await SessionClient.loggedIn("dave", port: server.port, caFile: caFile, register: true).client.close()
        try await carol.connection.chat(with: "dave")
        let stored = try await carol.connection.send("kept for dave")
        #expect(stored.status == .stored)

        // Dave reads it but never acknowledges it, so the server keeps it.
        let (first, summary) = try await SessionClient.loggedIn("dave", port: server.port, caFile: caFile, register: false)
        #expect(summary.counts == ["carol": 1])
        try await first.connection.chat(with: "carol")
        let original = try await first.nextMessage()
        #expect(original.stored && original.body == "kept for dave")
        await first.close()

        let (second, _) = try await SessionClient.loggedIn("dave", port: server.port, caFile: caFile, register: false)
        try await second.connection.chat(with: "carol")
        let again = try await second.nextMessage()
        #expect(again.id == original.id, "redelivered with the same id")
        second.connection.acknowledge(again)
        // The close sends the ack first; the server queues the removal before it reads on.
        await second.close()

        let (third, after) = try await SessionClient.loggedIn("dave", port: server.port, caFile: caFile, register: false)
        #expect(after.counts.isEmpty, "the ack emptied the inbox")
        await third.close()
        await carol.close()
    }

    /// One stream of events and answers, as chat-client merges them.
    enum Item: Sendable {
        case event(SessionEvent)
        case answer(Result<ServerFrame, any Error>)
    }

    @Test("an answer handed to onAnswer keeps its place: the login's ok before its summary", .timeLimit(.minutes(TestTimeouts.minutes(2))))
    func answerInOrder() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let caFile = server.certificates.caFile
        try await SessionClient.loggedIn("erin", port: server.port, caFile: caFile, register: true).client.close()

        let (items, continuation) = AsyncStream.makeStream(of: Item.self)
        let configuration = SessionConfiguration(port: server.port, caFile: caFile, agent: "order-test/1")
        let connection = try await SessionConnector(configuration: configuration).connect { continuation.yield(.event($0)) }
        // The summary follows the ok at once, often in the same read.
        connection.request(.login(username: "erin", password: "password123")) { continuation.yield(.answer($0)) }
        var iterator = items.makeAsyncIterator()
        guard case .answer(.success(.ok(_, "erin", _, _, _))) = await iterator.next() else {
            Issue.record("the answer comes first")
            return
        }
        guard case .event(.inboxSummary) = await iterator.next() else {
            Issue.record("then the summary the server sent after it")
            return
        }
        await connection.close()
    }

    @Test("a refused request throws the server's error and the session goes on", .timeLimit(.minutes(TestTimeouts.minutes(2))))
    func refused() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let client = try await SessionClient.connect(port: server.port, caFile: server.certificates.caFile)
        await #expect {
            try await client.connection.login(username: "nobody", password: "password123")
        } throws: { error in
            guard case SessionError.refused(let refusal) = error else { return false }
            return refusal.code == .badCredentials
        }
        try await client.connection.ping()
        await client.close()
        guard case .closed(.closedByClient) = try await client.nextEvent() else {
            Issue.record("the session ends with closed by the client")
            return
        }
    }
}
