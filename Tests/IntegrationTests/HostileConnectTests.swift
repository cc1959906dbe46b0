import Foundation
import Testing
import TestSupport

/// The connections real servers of this kind have died on, one after another against one
/// server, while a legitimate pair keeps chatting: after each, the pair's next message
/// still arrives, the server still runs, and the event was logged once.
@Suite("Hostile connects")
struct HostileConnectTests {
    /// Server log lines (notice and above) naming connection `id`.
    private func logLines(_ server: ServerProcess, connection id: Int) -> [Substring] {
        server.logs.split(separator: "\n").filter { $0.contains("connection.id=\(id) ") }
    }

    /// The connection ids in the log so far.
    private func connectionIDs(_ server: ServerProcess) -> Set<Int> {
        var ids = Set<Int>()
        for line in server.logs.split(separator: "\n") {
            guard let range = line.range(of: "connection.id=") else { continue }
            if let id = Int(line[range.upperBound...].prefix { $0.isNumber }) { ids.insert(id) }
        }
        return ids
    }

    @Test("scans, connect loops, plain text, TLS 1.0/1.1, a certificate refusal, kill -9 and RST: logged once, nobody else notices")
    func matrix() async throws {
        let certificates = try CertificateFixture.shared()
        let stranger = try CertificateFixture.make()
        defer { stranger.directory.remove() }
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true)
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true)
        try await alice.chat(with: "bob")
        try await bob.chat(with: "alice")
        var round = 0
        var legitimateIDs = connectionIDs(server)

        /// Runs one hostile action, then checks: the server runs, the pair still chats, and
        /// each new connection left exactly `linesEach` log lines.
        func attack(_ name: String, linesEach: Int = 1, _ action: () async throws -> Void) async throws {
            try await action()
            round += 1
            #expect(server.process.isRunning, "\(name): the server died")
            try await alice.send(#"{"type":"send","id":\#(100 + round),"body":"after \#(name)"}"#)
            #expect(try await alice.reply(to: 100 + round)["status"] as? String == "sent", "\(name): the pair stopped")
            #expect(try await bob.waitForMessage(body: "after \(name)"), "\(name): bob never got the message")
            // Give the server a moment to log what it saw, then count per connection.
            _ = await waitUntil(seconds: 1) { false }
            let newIDs = connectionIDs(server).subtracting(legitimateIDs)
            #expect(!newIDs.isEmpty, "\(name): nothing was logged")
            for id in newIDs {
                let lines = logLines(server, connection: id)
                #expect(lines.count == linesEach, "\(name): connection \(id) logged \(lines.count) lines: \(lines)")
            }
            legitimateIDs.formUnion(newIDs)
        }

        try await attack("a port scan") {
            for _ in 0..<20 { _ = try RawTCPClient(port: server.port) }
        }
        try await attack("a connect/close loop") {
            for _ in 0..<300 { _ = try RawTCPClient(port: server.port) }
        }
        try await attack("a plain-text request") {
            let raw = try RawTCPClient(port: server.port)
            try raw.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(raw.readUntilClosed().end == .closed)
        }
        for version in ["-tls1", "-tls1_1"] {
            try await attack("a \(version) hello") {
                let result = try await ProcessRunner.run(
                    "/usr/bin/openssl",
                    ["s_client", "-connect", "127.0.0.1:\(server.port)", version, "-cipher", "DEFAULT:@SECLEVEL=0"],
                    input: "")
                #expect(result.status != 0, "\(version) must be refused")
            }
        }
        try await attack("a client refusing the certificate mid-handshake") {
            await #expect(throws: (any Error).self) {
                _ = try await LineClient.connect(port: server.port, caFile: stranger.caFile)
            }
        }
        // Logged in, then killed: "registered", "logged in" and one "disconnected: why".
        try await attack("a chat-client killed with SIGKILL mid-session", linesEach: 3) {
            let carol = try ClientProcess(port: server.port, caFile: certificates.caFile)
            for line in ["R", "carol", "password123", "password123"] { carol.type(line) }
            #expect(await carol.waitFor("Chat with:"), "carol did not log in: \(carol.output)")
            kill(carol.process.processIdentifier, SIGKILL)
            _ = await carol.waitForExit()
            #expect(await waitUntil { server.logs.contains("user=carol") && server.logs.contains("disconnected") })
        }
        try await attack("a TCP reset mid-session", linesEach: 3) {
            let dave = try await LineClient.loggedIn("dave", port: server.port, caFile: certificates.caFile, register: true)
            await dave.reset()
            #expect(await waitUntil { server.logs.split(separator: "\n").contains { $0.contains("user=dave") && $0.contains("disconnected") } })
        }
        await alice.close()
        await bob.close()
    }
}
