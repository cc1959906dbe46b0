import Foundation
import Shared
import Testing
import TestSupport

/// A client that stops reading must not slow anyone else or make the server hold its
/// messages without bound: past the outbound bound its messages go to its inbox, it is
/// disconnected after the stalled-reader timeout, and it gets everything on its return.
@Suite("Slow readers")
struct SlowReaderTests {
    static let arguments = [
        "--max-outbound-bytes", "65536", "--stalled-reader-timeout", "3",
        "--message-rate", "100000", "--message-burst", "100000",
        "--inbox-max-messages", "100000", "--inbox-max-bytes", "100000000",
        "--scrypt-log-n", "10",
    ]

    /// alice and bob logged in and paired; bob has stopped reading.
    private static func pairWithStalledReader(port: Int, caFile: String) async throws -> (alice: LineClient, bob: LineClient) {
        let bob = try await LineClient.loggedIn("bob", port: port, caFile: caFile, register: true)
        let alice = try await LineClient.loggedIn("alice", port: port, caFile: caFile, register: true)
        try await bob.chat(with: "alice")
        try await alice.chat(with: "bob")
        try await bob.stopReading()
        return (alice, bob)
    }

    /// Opens `client`'s chat with `partner` and returns the messages that were waiting,
    /// acknowledged. They come before the answer to `chat`; a quiet second after it catches
    /// anything that would come twice.
    private static func openChat(_ client: LineClient, with partner: String) async throws -> [[String: Any]] {
        try await client.send(#"{"type":"chat","id":3,"with":"\#(partner)"}"#)
        var messages: [[String: Any]] = []
        var answered = false
        while let frame = answered ? try? await client.receiveJSON(timeout: 1) : try await client.receiveJSON() {
            if frame["id"] as? Int == 3 { answered = true }
            guard frame["type"] as? String == "message" else { continue }
            messages.append(frame)
            try await client.send(#"{"type":"ack","seq":\#(frame["seq"] as? Int ?? 0)}"#)
        }
        return messages
    }

    /// carol sends dave a message every 50 ms until `stop`; every one must arrive.
    private static func steadyPair(port: Int, caFile: String, stop: Locked<Bool>) async throws
        -> (sent: Int, received: Int, slowestMilliseconds: Int)
    {
        let carol = try await LineClient.loggedIn("carol", port: port, caFile: caFile, register: true)
        let dave = try await LineClient.loggedIn("dave", port: port, caFile: caFile, register: true)
        try await carol.chat(with: "dave")
        try await dave.chat(with: "carol")
        var sent = 0
        var received = 0
        var slowest = 0.0
        while !stop.withLock({ $0 }) {
            sent += 1
            let started = Date()
            try await carol.send(#"{"type":"send","id":\#(100 + sent),"body":"steady \#(sent)"}"#)
            while let frame = try await dave.receiveJSON() {
                guard frame["type"] as? String == "message", frame["body"] as? String == "steady \(sent)" else { continue }
                try await dave.send(#"{"type":"ack","seq":\#(frame["seq"] as? Int ?? 0)}"#)
                received += 1
                break
            }
            slowest = max(slowest, Date().timeIntervalSince(started))
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        await carol.close()
        await dave.close()
        return (sent, received, Int(slowest * 1000))
    }

    @Test("megabytes to a client that stopped reading: a steady pair is untouched, nothing is lost, the reader is cut off")
    func slowReader() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: Self.arguments)
        defer { server.stop() }
        let (port, ca) = (server.port, certificates.caFile)

        let (alice, bob) = try await Self.pairWithStalledReader(port: port, caFile: ca)

        let stop = Locked(false)
        let steady = Task { try await Self.steadyPair(port: port, caFile: ca, stop: stop) }

        // alice floods bob with 4 KB messages until the server spills them to his inbox.
        let padding = String(repeating: "x", count: 4_000)
        var bodies: [String] = []
        var statuses: [String: Int] = [:]
        var id = 100
        while statuses["stored", default: 0] < 50, bodies.count < 5_000 {
            id += 1
            let body = "flood-\(id)-\(padding)"
            try await alice.send(#"{"type":"send","id":\#(id),"body":"\#(body)"}"#)
            let answer = try await alice.reply(to: id)
            let status = (answer["status"] as? String) ?? (answer["code"] as? String) ?? "?"
            statuses[status, default: 0] += 1
            if status == "sent" || status == "stored" { bodies.append(body) }
        }
        #expect(statuses["stored", default: 0] >= 50, "the server never spilled to the inbox: \(statuses)")
        #expect(Set(statuses.keys).isSubset(of: ["sent", "stored"]), "\(statuses)")

        // The stalled-reader timeout cuts bob off; alice hears he disconnected.
        var aliceHeard = false
        while let frame = try await alice.receiveJSON(timeout: 30) {
            if frame["code"] as? String == "partner_disconnected" {
                aliceHeard = true
                break
            }
        }
        #expect(aliceHeard, "alice was never told bob was disconnected")
        #expect(await waitUntil { server.logs.contains("user=bob [Server] disconnected: stopped reading") }, "\(server.logs.suffix(800))")

        stop.withLock { $0 = true }
        let pair = try await steady.value
        #expect(pair.sent > 0 && pair.received == pair.sent, "the steady pair lost messages: \(pair)")

        // bob comes back and gets every message alice was told was sent or stored, once.
        let bobAgain = try await LineClient.loggedIn("bob", port: port, caFile: ca, register: false)
        var delivered: [String: Int] = [:]
        for frame in try await Self.openChat(bobAgain, with: "alice") {
            delivered[frame["body"] as? String ?? "", default: 0] += 1
        }
        // Bodies are 4 KB: name them by their number only.
        let missing = bodies.filter { delivered[$0] == nil }.map { $0.prefix(while: { $0 != "x" }) }
        #expect(missing.isEmpty, "\(missing.count) of \(bodies.count) messages never reached bob: \(missing.prefix(10))")
        #expect(delivered.values.allSatisfy { $0 == 1 }, "some messages reached bob twice")
        print(
            "slow reader: \(bodies.count) messages (\(bodies.count * 4) KB) sent to a stalled reader, "
                + "\(statuses["sent", default: 0]) written live then \(statuses["stored", default: 0]) spilled to the inbox; "
                + "steady pair \(pair.received)/\(pair.sent) delivered, slowest \(pair.slowestMilliseconds) ms; "
                + "\(delivered.count) delivered to bob on return")
        await alice.close()
        await bobAgain.close()
        await bob.close()
    }

    @Test("a reader that never reads: the sender is refused before anything is lost, and every accepted message arrives once")
    func acceptedMeansDelivered() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(
            certificates: certificates,
            arguments: [
                "--inbox-max-messages", "40", "--message-rate", "100000", "--message-burst", "100000",
                "--scrypt-log-n", "10",
            ])
        defer { server.stop() }
        let (port, ca) = (server.port, certificates.caFile)
        let (alice, bob) = try await Self.pairWithStalledReader(port: port, caFile: ca)

        // alice sends until the server refuses; what it accepted, live or stored, is hers to count on.
        var accepted: [String: String] = [:]  // message id -> body
        var liveIDs: Set<String> = []
        var refusal: [String: Any] = [:]
        for id in 100..<1_000 {
            let body = "m\(id)"
            try await alice.send(#"{"type":"send","id":\#(id),"body":"\#(body)"}"#)
            let answer = try await alice.reply(to: id)
            guard let status = answer["status"] as? String, let messageID = answer["message_id"] as? String else {
                refusal = answer
                break
            }
            accepted[messageID] = body
            if status == "sent" { liveIDs.insert(messageID) }
        }
        #expect(refusal["code"] as? String == "inbox_full", "\(refusal)")
        #expect(!liveIDs.isEmpty && liveIDs.count < accepted.count, "live \(liveIDs.count) of \(accepted.count)")

        // bob's connection is cut; every message alice had accepted live is stored for him,
        // and she is told so for each.
        await bob.reset()
        var storedLater: Set<String> = []
        while storedLater != liveIDs, let frame = try await alice.receiveJSON(timeout: 15) {
            if frame["status"] as? String == "stored", let messageID = frame["message_id"] as? String {
                storedLater.insert(messageID)
            }
            #expect(frame["code"] as? String != "inbox_full" && frame["code"] as? String != "not_stored", "\(frame)")
        }
        #expect(storedLater == liveIDs)

        // bob comes back and gets exactly what alice was told was accepted, each once.
        let bobAgain = try await LineClient.loggedIn("bob", port: port, caFile: ca, register: false)
        var delivered: [String: Int] = [:]
        for frame in try await Self.openChat(bobAgain, with: "alice") {
            let messageID = frame["message_id"] as? String ?? ""
            delivered[messageID, default: 0] += 1
            #expect(frame["body"] as? String == accepted[messageID])
        }
        #expect(Set(delivered.keys) == Set(accepted.keys), "\(delivered.count) delivered of \(accepted.count) accepted")
        #expect(delivered.values.allSatisfy { $0 == 1 }, "some messages reached bob twice")
        await alice.close()
        await bobAgain.close()
    }
}
