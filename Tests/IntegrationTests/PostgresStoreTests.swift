import Foundation
import Testing
import TestSupport

/// The real chat-server on a PostgreSQL database (a throw-away cluster): "stored" survives
/// restarts and kill -9, the location may come from the environment, and start-up problems
/// are one clear line.
@Suite("chat-server on PostgreSQL", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct PostgresStoreTests {
    /// A URL for a fresh database, with a password (trust authentication ignores it) to
    /// check that it never shows.
    static func freshURL() async throws -> (cluster: PostgresCluster, database: String, url: String) {
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        return (cluster, database, "postgres://chat:s3cret-pw@/\(database)?host=\(cluster.socketDirectory)")
    }

    /// Sends `body` and returns the receipt status ("sent"/"stored") or the error code.
    private func send(_ client: LineClient, _ body: String, id: Int) async throws -> String {
        try await client.send(#"{"type":"send","id":\#(id),"body":"\#(body)"}"#)
        let reply = try await client.reply(to: id)
        return (reply["status"] as? String) ?? (reply["code"] as? String) ?? "?"
    }

    /// Chooses `partner`; returns the messages delivered before the `ok` (the stored ones).
    private func chat(_ client: LineClient, with partner: String) async throws -> [[String: Any]] {
        try await client.send(#"{"type":"chat","id":3,"with":"\#(partner)"}"#)
        var messages: [[String: Any]] = []
        while let frame = try await client.receiveJSON() {
            if frame["id"] as? Int == 3 { return messages }
            if frame["type"] as? String == "message" { messages.append(frame) }
        }
        throw FixtureError("connection closed before the chat reply")
    }

    @Test("register, log in, store; restart (location from CHAT_STORE), kill -9: everything stored is delivered once")
    func storedSurvivesRestarts() async throws {
        let certificates = try CertificateFixture.shared()
        let (cluster, database, url) = try await Self.freshURL()
        var server = try await ServerProcess(certificates: certificates, store: url)
        let caFile = certificates.caFile
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: caFile, register: true)
        await bob.close()
        var alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: true)
        _ = try await chat(alice, with: "bob")
        #expect(try await send(alice, "before restart", id: 10) == "stored")
        await alice.close()
        #expect(server.stop() == 0)
        #expect(server.logs.contains("PostgreSQL database postgres://chat:***@/\(database)"), "\(server.logs)")
        #expect(!server.logs.contains("s3cret-pw"))

        // The location from the environment alone: nothing about it on the command line.
        server = try await ServerProcess(certificates: certificates, store: "", environment: ["CHAT_STORE": url])
        #expect(!(server.process.arguments ?? []).joined(separator: " ").contains("s3cret-pw"))
        alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: false)
        _ = try await chat(alice, with: "bob")
        #expect(try await send(alice, "before kill -9", id: 11) == "stored")
        server.stop(signal: SIGKILL)
        await alice.close()

        server = try await ServerProcess(certificates: certificates, store: url)
        defer { server.stop() }
        let bobAgain = try await LineClient.loggedIn("bob", port: server.port, caFile: caFile, register: false)
        let delivered = try await chat(bobAgain, with: "alice")
        #expect(delivered.map { $0["body"] as? String } == ["before restart", "before kill -9"])
        #expect(delivered.allSatisfy { $0["stored"] as? Bool == true && $0["from"] as? String == "alice" })
        let lastSeq = delivered.compactMap { $0["seq"] as? Int }.max() ?? 0
        try await bobAgain.send(#"{"type":"ack","seq":\#(lastSeq)}"#)
        // Acknowledged: gone from the database (the removal is applied by the writer).
        var left = "?"
        for _ in 0..<100 {
            left = try await cluster.query(database, "SELECT count(*) FROM inbox_messages")
            if left == "0" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(left == "0")
        await bobAgain.close()
        #expect(!server.logs.contains("s3cret-pw"))
    }

    @Test("a malformed location, an unreachable database, a newer schema: one line saying so, exit non-zero")
    func startupErrors() async throws {
        let certificates = try CertificateFixture.shared()
        let (cluster, database, url) = try await Self.freshURL()
        let cases: [(store: String, expected: String)] = [
            ("postgres:host=/tmp password=s3cret-pw nonsense=1", "invalid connection option \"nonsense\""),
            ("postgres://chat:s3cret-pw@/no_such_database?host=\(cluster.socketDirectory)", "no_such_database"),
            ("postgres:host=/nonexistent dbname=chat password=s3cret-pw", "is unavailable"),
        ]
        for (store, expected) in cases {
            let failure = try await Self.startFailure(certificates: certificates, store: store)
            #expect(failure.contains(expected), "\(failure)")
        }
        // A database a newer server has migrated.
        let server = try await ServerProcess(certificates: certificates, store: url)
        server.stop()
        try await cluster.query(database, "UPDATE schema_version SET version = version + 1")
        let failure = try await Self.startFailure(certificates: certificates, store: url)
        #expect(failure.contains("newer than this chat-server knows"), "\(failure)")
        #expect(!failure.contains("s3cret-pw"))
    }

    /// Runs chat-server expecting it to fail at start-up; checks it exits non-zero with the
    /// reason on the first line of standard error (a usage error adds argument-parser's
    /// usage lines below it) and returns that line.
    static func startFailure(certificates: CertificateFixture, store: String) async throws -> String {
        // The async run: waiting for a server that retries an unreachable database must not
        // hold one of the few cooperative threads every other test needs.
        let result = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-server"),
            [
                "--host", "127.0.0.1", "--port", "0", "--cert", certificates.certificateFile,
                "--key", certificates.privateKeyFile, "--store", store,
            ])
        #expect(result.status != 0, "chat-server started with --store \(store)")
        #expect(!result.stderr.contains("s3cret-pw"), "\(result.stderr)")
        return result.stderr.split(separator: "\n").first.map(String.init) ?? ""
    }
}
