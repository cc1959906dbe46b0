import Foundation
import Testing
import TestSupport

/// A client that does not wait for each answer: many `send`s in flight at once, against the
/// real server over TLS with real storage. Their answers come back in request order, and a
/// recipient who opens the chat halfway (so that some messages are stored and later ones go
/// live) sees every message once, in the order it was sent.
@Suite("Sends in flight together", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct PipeliningTests {
    static let count = 300
    static let firstID = 100

    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case gdbm, postgres
        var testDescription: String { rawValue }
    }

    @Test("answers in request order; stored then live, the recipient sees each message once, in order", arguments: Backend.allCases)
    func sendsInFlight(backend: Backend) async throws {
        let certificates = try CertificateFixture.shared()
        let store: String? = backend == .postgres ? try await PostgresStoreTests.freshURL().url : nil
        let server = try await ServerProcess(
            certificates: certificates, store: store, arguments: ["--message-rate", "100000", "--message-burst", "100000"])
        defer { server.stop() }
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true)
        try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true).close()
        try await alice.chat(with: "bob")

        let lines = (0..<Self.count).map { #"{"type":"send","id":\#(Self.firstID + $0),"body":"m\#($0)"}"# }
        // A third while bob is away (stored), the rest while he opens the chat (stored, then live).
        try await alice.send(lines[0..<100].joined(separator: "\n"))
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: false)
        try await bob.send(#"{"type":"chat","id":3,"with":"alice"}"#)
        for start in stride(from: 100, to: Self.count, by: 50) {
            try await alice.send(lines[start..<min(start + 50, Self.count)].joined(separator: "\n"))
        }

        // bob acknowledges only at the end, so nothing he has been shown is offered again.
        var bodies: [String] = []
        var ids: Set<String> = []
        var highestSeq = 0
        var stored = 0
        while bodies.count < Self.count, let frame = try await bob.receiveJSON() {
            guard frame["type"] as? String == "message" else { continue }
            let id = frame["message_id"] as? String ?? ""
            #expect(ids.insert(id).inserted, "message \(id) shown twice")
            bodies.append(frame["body"] as? String ?? "?")
            highestSeq = max(highestSeq, frame["seq"] as? Int ?? 0)
            if frame["stored"] as? Bool == true { stored += 1 }
        }
        #expect(bodies == (0..<Self.count).map { "m\($0)" }, "in the order sent")
        #expect(stored >= 100, "the first hundred came from the inbox")
        try await bob.send(#"{"type":"ack","seq":\#(highestSeq)}"#)

        var answered: [Int] = []
        var statuses: [String: Int] = [:]
        while answered.count < Self.count, let frame = try await alice.receiveJSON() {
            guard let id = frame["id"] as? Int, id >= Self.firstID else { continue }
            answered.append(id)
            statuses[(frame["status"] as? String) ?? (frame["code"] as? String) ?? "?", default: 0] += 1
        }
        #expect(answered == Array(Self.firstID..<(Self.firstID + Self.count)), "answers in request order")
        #expect(statuses["stored", default: 0] >= 100 && statuses["stored", default: 0] + statuses["sent", default: 0] == Self.count,
            "\(statuses)")
        await alice.close()
        await bob.close()
    }
}
