import Foundation
import Shared
import Testing
import TestSupport

/// "Stored" means stored: restarts, kill -9, unacknowledged deliveries, caps and expiry.
@Suite("Offline inbox durability")
struct InboxDurabilityTests {
    /// A logged-in protocol client that has chosen `partner`, with the frames that came
    /// before the `chat` reply (waiting messages are delivered first) kept for `messages`.
    private func session(_ name: String, chatWith partner: String, port: Int, caFile: String, register: Bool = false)
        async throws -> Session
    {
        let client = try await LineClient.connectAndGreet(port: port, caFile: caFile)
        if register {
            try await client.send(#"{"type":"register","id":90,"username":"\#(name)","password":"password123"}"#)
            _ = try await client.receiveJSON()
        }
        try await client.send(#"{"type":"login","id":91,"username":"\#(name)","password":"password123"}"#)
        try await client.send(#"{"type":"chat","id":92,"with":"\#(partner)"}"#)
        let (_, before) = try await waitForReply(client, id: 92)
        return Session(client: client, backlog: before)
    }

    /// A protocol client plus frames already read but not yet looked at.
    final class Session {
        let client: LineClient
        var backlog: [[String: Any]]
        init(client: LineClient, backlog: [[String: Any]]) {
            self.client = client
            self.backlog = backlog
        }
        func send(_ line: String) async throws { try await client.send(line) }
        func receiveJSON(timeout: Double = 10) async throws -> [String: Any]? {
            if !backlog.isEmpty { return backlog.removeFirst() }
            return try await client.receiveJSON(timeout: timeout)
        }
        func close() async { await client.close() }
    }

    /// Reads frames until the one answering request `id`; returns it (and what came before).
    @discardableResult
    private func waitForReply(_ client: Session, id: Int) async throws -> (reply: [String: Any], before: [[String: Any]]) {
        var before: [[String: Any]] = []
        while let frame = try await client.receiveJSON() {
            if frame["id"] as? Int == id { return (frame, before) }
            before.append(frame)
        }
        throw FixtureError("connection closed before the reply to \(id); got \(before)")
    }

    @discardableResult
    private func waitForReply(_ client: LineClient, id: Int) async throws -> (reply: [String: Any], before: [[String: Any]]) {
        try await waitForReply(Session(client: client, backlog: []), id: id)
    }

    /// Sends `body` and returns the receipt status ("sent"/"stored") or the error code.
    private func send(_ client: Session, _ body: String, id: Int) async throws -> String {
        try await client.send(#"{"type":"send","id":\#(id),"body":"\#(body)"}"#)
        let (reply, _) = try await waitForReply(client, id: id)
        return (reply["status"] as? String) ?? (reply["code"] as? String) ?? "?"
    }

    /// Collects the message frames that arrive within `seconds` of quiet.
    private func messages(_ client: Session, quiet seconds: Double = 1.5) async -> [[String: Any]] {
        var found: [[String: Any]] = []
        while let frame = try? await client.receiveJSON(timeout: seconds) {
            if frame["type"] as? String == "message" { found.append(frame) }
        }
        return found
    }

    @Test("stored messages survive a clean restart and a kill -9 right after \"stored\"")
    func restartAndKill() async throws {
        let certificates = try CertificateFixture.shared()
        var server = try await ServerProcess(certificates: certificates)
        let dataDirectory = server.dataDirectory
        let bobSetup = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile, register: true)
        await bobSetup.close()
        let alice = try await session("alice", chatWith: "bob", port: server.port, caFile: certificates.caFile, register: true)
        #expect(try await send(alice, "before restart", id: 1) == "stored")
        #expect(server.stop() == 0)

        server = try await ServerProcess(certificates: certificates, dataDirectory: dataDirectory, workDirectory: server.workDirectory)
        let alice2 = try await session("alice", chatWith: "bob", port: server.port, caFile: certificates.caFile)
        let sentBeforeKill = Date()
        #expect(try await send(alice2, "before kill -9", id: 2) == "stored")
        #expect(server.stop(signal: SIGKILL) == 137 || !server.process.isRunning)

        server = try await ServerProcess(certificates: certificates, dataDirectory: dataDirectory, workDirectory: server.workDirectory)
        defer { server.stop() }
        let bob = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile)
        let delivered = await messages(bob)
        #expect(delivered.map { $0["body"] as? String } == ["before restart", "before kill -9"])
        #expect(delivered.allSatisfy { $0["stored"] as? Bool == true && $0["from"] as? String == "alice" })
        // Original times: stamped when the server accepted them, not when delivered.
        let lastSentAt = Double(delivered.last?["sent_at"] as? Int ?? 0) / 1000
        #expect(abs(lastSentAt - sentBeforeKill.timeIntervalSince1970) < 5)
        #expect(Date().timeIntervalSince1970 - lastSentAt > 0)
    }

    @Test("a delivery the recipient never acknowledged is redelivered, once, and gone after the ack")
    func redeliveryUntilAcknowledged() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let bobSetup = try await session("bob", chatWith: "nobody", port: server.port, caFile: certificates.caFile, register: true)
        await bobSetup.close()
        let alice = try await session("alice", chatWith: "bob", port: server.port, caFile: certificates.caFile, register: true)
        #expect(try await send(alice, "ack me", id: 1) == "stored")

        let first = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile)
        let firstDelivery = await messages(first, quiet: 1)
        #expect(firstDelivery.count == 1)
        await first.close()  // dropped before acknowledging

        let second = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile)
        let secondDelivery = await messages(second, quiet: 1)
        #expect(secondDelivery.count == 1, "redelivered exactly once")
        let id = secondDelivery.first?["message_id"] as? String
        #expect(id != nil && id == firstDelivery.first?["message_id"] as? String, "same id, so a client can drop duplicates")
        try await second.send(#"{"type":"ack","seq":\#(secondDelivery.first?["seq"] as? Int ?? 0)}"#)
        // The sender hears it was delivered.
        var receipt: [String: Any]?
        while let frame = try await alice.receiveJSON() {
            if frame["type"] as? String == "delivered" { receipt = frame; break }
        }
        #expect(receipt?["message_ids"] as? [String] == id.map { [$0] })
        await second.close()

        let third = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile)
        #expect(await messages(third, quiet: 1).isEmpty, "acknowledged messages are not delivered again")
    }

    @Test("a full inbox is reported to the sender and nothing is stored")
    func inboxFull() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--inbox-max-messages", "2"])
        defer { server.stop() }
        let bobSetup = try await session("bob", chatWith: "x", port: server.port, caFile: certificates.caFile, register: true)
        await bobSetup.close()
        let alice = try await session("alice", chatWith: "bob", port: server.port, caFile: certificates.caFile, register: true)
        #expect(try await send(alice, "one", id: 1) == "stored")
        #expect(try await send(alice, "two", id: 2) == "stored")
        #expect(try await send(alice, "three", id: 3) == "inbox_full")
        let bob = try await session("bob", chatWith: "alice", port: server.port, caFile: certificates.caFile)
        #expect(await messages(bob).map { $0["body"] as? String } == ["one", "two"])
    }

    @Test("expired messages are dropped and the recipient is told how many")
    func expiry() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--message-expiry", "2s"])
        defer { server.stop() }
        let bobSetup = try await session("bob", chatWith: "x", port: server.port, caFile: certificates.caFile, register: true)
        await bobSetup.close()
        let alice = try await session("alice", chatWith: "bob", port: server.port, caFile: certificates.caFile, register: true)
        #expect(try await send(alice, "old news", id: 1) == "stored")
        try await Task.sleep(nanoseconds: 3_000_000_000)  // past the 2 s expiry, not a timing assertion

        let bob = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await bob.send(#"{"type":"login","id":1,"username":"bob","password":"password123"}"#)
        var summary: [String: Any]?
        while let frame = try await bob.receiveJSON() {
            if frame["type"] as? String == "inbox" { summary = frame; break }
        }
        #expect(summary?["expired"] as? Int == 1)
        #expect((summary?["counts"] as? [String: Int])?.isEmpty == true)
    }

    @Test("chat requests need a login, an existing partner, and a message of the right size")
    func requestErrors() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let anonymous = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await anonymous.send(#"{"type":"chat","id":1,"with":"bob"}"#)
        #expect(try await waitForReply(anonymous, id: 1).reply["code"] as? String == "not_logged_in")

        let alice = try await session("alice", chatWith: "ghost", port: server.port, caFile: certificates.caFile, register: true)
        try await alice.send(#"{"type":"chat","id":5,"with":"ghost"}"#)
        let unknown = try await waitForReply(alice, id: 5).reply
        #expect(unknown["code"] as? String == "unknown_user")
        #expect(try await send(alice, "to nobody", id: 6) == "not_chatting")
        let bobSetup = try await session("bob", chatWith: "x", port: server.port, caFile: certificates.caFile, register: true)
        await bobSetup.close()
        try await alice.send(#"{"type":"chat","id":7,"with":"BOB"}"#)
        #expect(try await waitForReply(alice, id: 7).reply["username"] as? String == "bob")
        #expect(try await send(alice, "", id: 8) == "invalid_message")
        #expect(try await send(alice, String(repeating: "x", count: ChatMessage.maximumBodyBytes + 1), id: 9) == "invalid_message")
        #expect(try await send(alice, String(repeating: "x", count: ChatMessage.maximumBodyBytes), id: 14) == "stored")
        // Bodies are any text; neutralising what could drive a terminal is the client's job.
        #expect(try await send(alice, #"clear \u001b[2J screen"#, id: 11) == "stored")
        #expect(try await send(alice, #"two\nlines"#, id: 12) == "stored")
        #expect(try await send(alice, "tabs\\tare fine, and so is ünïcödé ✓", id: 13) == "stored")
        try await alice.send(#"{"type":"chat","id":10,"with":"alice"}"#)
        #expect(try await waitForReply(alice, id: 10).reply["code"] as? String == "invalid_field")
    }
}
