import Foundation
import Testing
import TestSupport

/// Pairing, live chat and the durable offline inbox, with real processes over real TLS
/// and real GDBM files.
@Suite("Chat and the offline inbox")
struct ChatTests {
    /// A chat-client that registered `name` and sits at "Chat with:". Each user has one
    /// machine per server (one state directory), so a later login reads what was sent to
    /// the earlier one.
    private func user(_ name: String, _ server: ServerProcess, register: Bool = true) async throws -> ClientProcess {
        try await ClientProcess(
            port: server.port, caFile: server.certificates.caFile,
            stateDirectory: server.workDirectory.appending("state-\(name)")
        ).enter(as: name, register: register)
    }

    /// Registers `name` and logs out again.
    private func registered(_ name: String, _ server: ServerProcess) async throws {
        let client = try await user(name, server)
        client.type("exit")
        _ = await client.waitForExit()
    }

    @Test("a live pair chats both ways, in order, with delivery receipts")
    func livePair() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let alice = try await user("alice", server)
        let bob = try await user("bob", server)
        alice.type("bob")
        #expect(await alice.waitFor("bob is not chatting with you yet"))
        #expect(await bob.waitFor("alice wants to chat - /chat alice to answer"))
        bob.type("/chat alice")
        #expect(await alice.waitFor("now chatting with bob"))
        #expect(await bob.waitFor("now chatting with alice"))

        for index in 1...5 { alice.type("from alice \(index)") }
        #expect(await bob.waitFor("alice: from alice 5"))
        for index in 1...5 { bob.type("from bob \(index)") }
        #expect(await alice.waitFor("bob: from bob 5"))

        let bobLines = bob.output.components(separatedBy: "\n").filter { $0.contains("alice: from alice") }
        #expect(bobLines.map { $0.components(separatedBy: "alice: ").last ?? "" } == (1...5).map { "from alice \($0)" })
        let aliceLines = alice.output.components(separatedBy: "\n").filter { $0.contains("bob: from bob") }
        #expect(aliceLines.map { $0.components(separatedBy: "bob: ").last ?? "" } == (1...5).map { "from bob \($0)" })
        #expect(bobLines.allSatisfy { $0.range(of: #"^\[\d\d:\d\d\] alice: "#, options: .regularExpression) != nil },
            "every line shows its time and sender: \(bobLines)")
        #expect(await alice.waitFor("bob received: from alice 5"), "delivery receipts reach the sender")
        #expect(alice.output.contains("you: from alice 1"))

        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        #expect(await alice.waitFor("bob left"))
        alice.type("exit")
        #expect(await alice.waitForExit() == 0)
        #expect(!server.logs.contains("from alice"), "message bodies never reach the logs")
    }

    @Test("messages to an offline user wait, are summarised at login and shown in order with original times")
    func offlineDelivery() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        try await registered("bob", server)
        try await registered("carol", server)
        let alice = try await user("alice", server)
        alice.type("bob")
        #expect(await alice.waitFor("bob is offline"))
        for index in 1...3 { alice.type("while you were out \(index)") }
        #expect(await alice.waitFor("you: while you were out 3"))
        #expect(alice.output.components(separatedBy: "stored").count - 1 >= 3, "each message is confirmed stored")
        let carol = try await user("carol", server, register: false)
        carol.type("bob")
        carol.type("hi from carol")
        #expect(await carol.waitFor("you: hi from carol"))
        carol.type("exit")
        _ = await carol.waitForExit()

        let bob = try await user("bob", server, register: false)
        #expect(bob.output.contains("3 new messages from alice, 1 from carol"), "\(bob.output)")
        bob.type("alice")
        #expect(await bob.waitFor("alice: while you were out 3"))
        let shown = bob.output.components(separatedBy: "\n").filter { $0.contains("while you were out") }
        #expect(shown.map { $0.components(separatedBy: "alice: ").last ?? "" } == (1...3).map { "while you were out \($0)" })
        #expect(await alice.waitFor("bob received: while you were out 3"), "acknowledged stored messages are receipted")
        bob.type("/inbox")
        #expect(await bob.waitFor("1 new message from carol"))
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)

        // Acknowledged messages are gone from the inbox; carol's is still there.
        let again = try await user("bob", server, register: false)
        #expect(again.output.contains("1 new message from carol"), "\(again.output)")
        again.type("exit")
        _ = await again.waitForExit()
    }

    @Test("a message to someone paired elsewhere gives them a notice and waits in their inbox")
    func pairedElsewhere() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let alice = try await user("alice", server)
        let bob = try await user("bob", server)
        alice.type("bob")
        bob.type("alice")
        #expect(await bob.waitFor("now chatting with alice"))
        let carol = try await user("carol", server)
        carol.type("bob")
        #expect(await carol.waitFor("bob is not chatting with you yet"))
        carol.type("are you there?")
        #expect(await carol.waitFor("you: are you there?"))
        #expect(await bob.waitFor("1 new message from carol - /chat carol to read"))
        #expect(!bob.output.contains("carol: are you there?"), "not shown while bob chats with alice")
        alice.type("still here")
        #expect(await bob.waitFor("alice: still here"), "the live session goes on")

        carol.type("/who")
        #expect(await carol.waitFor("Online: alice (chatting), bob (chatting)"), "\(carol.output)")

        bob.type("/chat carol")
        #expect(await alice.waitFor("bob left the chat"))
        #expect(await bob.waitFor("carol: are you there?"))
        #expect(await bob.waitFor("now chatting with carol"))
        bob.type("/leave")
        #expect(await carol.waitFor("bob left the chat"))
        #expect(await bob.waitFor("Chat with:", occurrence: 2))
        for client in [alice, bob, carol] { client.type("exit") }
        for client in [alice, bob, carol] { #expect(await client.waitForExit() == 0) }
    }

    @Test("a dropped connection tells the partner; unacknowledged live messages go to the inbox")
    func disconnectNotice() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        try await registered("bob", server)
        let alice = try await user("alice", server)
        alice.type("bob")

        // bob by hand: paired, receives a live message, never acknowledges it, vanishes.
        let bob = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await bob.send(#"{"type":"login","id":1,"username":"bob","password":"password123"}"#)
        try await bob.send(#"{"type":"chat","id":2,"with":"alice"}"#)
        #expect(await alice.waitFor("now chatting with bob"))
        alice.type("did you get this?")
        var live: [String: Any]?
        while let frame = try await bob.receiveJSON() {
            if frame["type"] as? String == "message" { live = frame; break }
        }
        let body = live?["body"] as? String
        #expect(body != nil && body?.contains("did you get this") == false, "the server relays ciphertext")
        #expect(live?["stored"] as? Bool == false)
        let messageID = live?["message_id"] as? String
        await bob.close()
        #expect(await alice.waitFor("bob disconnected"), "\(alice.output)")
        #expect(await alice.waitFor("kept in their inbox"), "the sender learns it was stored instead")

        // bob returns: the same message, from the inbox, once.
        let back = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await back.send(#"{"type":"login","id":1,"username":"bob","password":"password123"}"#)
        try await back.send(#"{"type":"chat","id":2,"with":"alice"}"#)
        // Waiting messages come before the answer to `chat`, so that answer ends the list.
        var deliveries: [[String: Any]] = []
        while let frame = try await back.receiveJSON(), frame["id"] as? Int != 2 {
            if frame["type"] as? String == "message" { deliveries.append(frame) }
        }
        #expect(deliveries.count == 1)
        #expect(deliveries.first?["message_id"] as? String == messageID)
        #expect(deliveries.first?["body"] as? String == body, "the same ciphertext, kept as it came")
        #expect(deliveries.first?["stored"] as? Bool == true)
        alice.type("exit")
        _ = await alice.waitForExit()
    }
}
