import Foundation
import Shared
import Testing
import TestSupport

/// `chat-server admin` against real stores: a stopped GDBM server's data directory, a
/// running server through its admin socket, and PostgreSQL with and without one.
@Suite("chat-server admin", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct AdminCommandTests {
    /// Runs `chat-server admin ARGUMENTS`.
    static func admin(_ arguments: [String]) async throws -> ProcessResult {
        try await ProcessRunner.run(RepositoryPaths.binary("chat-server"), ["admin"] + arguments)
    }

    /// The frame's JSON line.
    static func line(_ frame: ClientFrame) -> String {
        String(decoding: frame.encode(), as: UTF8.self)
    }

    /// A login's answer: "ok", or the error code.
    static func login(_ name: String, password: String = "password123", port: Int, caFile: String) async throws -> (
        answer: String, frame: [String: Any], client: LineClient
    ) {
        let client = try await LineClient.connectAndGreet(port: port, caFile: caFile)
        try await client.send(#"{"type":"login","id":2,"username":"\#(name)","password":"\#(password)"}"#)
        let frame = try await client.reply(to: 2)
        let answer = frame["type"] as? String == "ok" ? "ok" : (frame["code"] as? String ?? "?")
        return (answer, frame, client)
    }

    /// Reads frames until the notice `code`: true, or false if the connection closed first.
    static func notice(_ code: String, on client: LineClient) async throws -> Bool {
        while let frame = try await client.receiveJSON() {
            if frame["type"] as? String == "notice", frame["code"] as? String == code { return true }
        }
        return false
    }

    /// Reads until the server closes the connection; false if it stays open for `timeout` s.
    static func closes(_ client: LineClient, timeout: Double = 10) async -> Bool {
        while true {
            do {
                if try await client.receive(timeout: timeout) == nil { return true }
            } catch {
                return false
            }
        }
    }

    /// The one-time password in `reset-password`'s output.
    static func oneTimePassword(_ output: String, for user: String) throws -> String {
        let prefix = "One-time password for \(user): "
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            throw FixtureError("no one-time password in: \(output)")
        }
        return String(line.dropFirst(prefix.count))
    }

    /// The operator as the admin log must name them: the user running the tests.
    static var operatorName: String {
        let uid = getuid()
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid)"
    }

    @Test("on a stopped GDBM server's data directory: users, stats, lock, reset-password, refusals; the server then obeys")
    func stoppedGDBM() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "admin")
        defer { work.remove() }
        let data = work.appending("data")
        var server = try await ServerProcess(certificates: certificates, dataDirectory: data, arguments: ["--scrypt-log-n", "10"])
        let caFile = certificates.caFile
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: true)
        try await alice.send(Self.line(.publishKeys(id: 5, keys: TestKeys.keys(preKeys: 1...3))))
        _ = try await alice.reply(to: 5)
        let bob = try await LineClient.connectAndGreet(port: server.port, caFile: caFile)
        try await bob.send(#"{"type":"register","id":1,"username":"bob","password":"password123"}"#)
        _ = try await bob.reply(to: 1)
        await bob.close()
        try await alice.chat(with: "bob")
        try await alice.send(#"{"type":"send","id":6,"body":"for bob"}"#)
        #expect(try await alice.reply(to: 6)["status"] as? String == "stored")
        await alice.close()
        #expect(server.stop() == 0)

        let users = try await Self.admin(["users", "--data-dir", data])
        #expect(users.status == 0, "\(users.stderr)")
        let rows = users.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.hasPrefix("USER") == true, "\(users.stdout)")
        let aliceRow = try #require(rows.first { $0.hasPrefix("alice ") })
        let bobRow = try #require(rows.first { $0.hasPrefix("bob ") })
        #expect(!aliceRow.contains("never"), "alice logged in: \(aliceRow)")
        #expect(bobRow.contains("never"), "bob never logged in: \(bobRow)")
        #expect(bobRow.split(separator: " ").contains("1"), "one message waits for bob: \(bobRow)")
        #expect(users.stderr.contains("operator=\(Self.operatorName)"), "\(users.stderr)")

        let stats = try await Self.admin(["stats", "--data-dir", data])
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("sessions online  0 (the server is not running)"), "\(stats.stdout)")
        #expect(stats.stdout.contains("accounts         2 (0 locked)"), "\(stats.stdout)")
        #expect(stats.stdout.contains("1 message"), "\(stats.stdout)")
        #expect(stats.stdout.contains("GDBM files in"), "\(stats.stdout)")

        let lock = try await Self.admin(["lock", "alice", "--data-dir", data])
        #expect(lock.status == 0 && lock.stdout == "Alice is locked.\n", "\(lock.stdout)\(lock.stderr)")
        #expect(lock.stderr.contains("admin lock alice: alice is locked"), "\(lock.stderr)")
        let reset = try await Self.admin(["reset-password", "bob", "--data-dir", data])
        #expect(reset.status == 0, "\(reset.stderr)")
        let oneTime = try Self.oneTimePassword(reset.stdout, for: "bob")
        #expect(!reset.stderr.contains(oneTime), "the password is never logged")
        let unknown = try await Self.admin(["delete", "carol", "--data-dir", data])
        #expect(unknown.status == 1 && unknown.stderr.contains("chat-server admin: no such user: carol"), "\(unknown.stderr)")
        let impossible = try await Self.admin(["lock", "No Such!", "--data-dir", data])
        #expect(impossible.status == 1 && impossible.stderr.contains("cannot be a username"), "\(impossible.stderr)")

        server = try await ServerProcess(certificates: certificates, dataDirectory: data, arguments: ["--scrypt-log-n", "10"])
        defer { server.stop() }
        #expect(try await Self.login("alice", port: server.port, caFile: caFile).answer == "account_locked")
        #expect(try await Self.login("alice", password: "wrong-password", port: server.port, caFile: caFile).answer == "bad_credentials")
        #expect(try await Self.login("bob", port: server.port, caFile: caFile).answer == "bad_credentials", "the old password is gone")
        let bobAgain = try await Self.login("bob", password: oneTime, port: server.port, caFile: caFile)
        #expect(bobAgain.answer == "ok")
        #expect(bobAgain.frame["must_change_password"] as? Bool == true)
        try await bobAgain.client.send(#"{"type":"chat","id":3,"with":"alice"}"#)
        #expect(try await bobAgain.client.reply(to: 3)["code"] as? String == "password_change_required")
        await bobAgain.client.close()
    }

    @Test("through a running GDBM server's admin socket: lock and reset-password close a live session; delete removes account, keys and inbox")
    func runningGDBM() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--scrypt-log-n", "10"])
        defer { server.stop() }
        let data = server.dataDirectory
        let socket = data + "/admin.sock"
        let caFile = certificates.caFile
        var info = stat()
        #expect(lstat(socket, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(info.st_uid == geteuid())

        var alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: true)
        try await alice.send(Self.line(.publishKeys(id: 5, keys: TestKeys.keys(preKeys: 1...3))))
        _ = try await alice.reply(to: 5)
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: caFile, register: true)
        try await bob.chat(with: "alice")
        try await bob.send(#"{"type":"send","id":6,"body":"waits for alice"}"#)
        #expect(try await bob.reply(to: 6)["status"] as? String == "stored")

        let users = try await Self.admin(["users", "--data-dir", data])
        #expect(users.status == 0, "\(users.stderr)")
        #expect(users.stdout.contains("alice ") && users.stdout.contains("bob "), "\(users.stdout)")
        let stats = try await Self.admin(["stats", "--data-dir", data])
        #expect(stats.stdout.contains("sessions online  2\n"), "\(stats.stdout)")

        let lock = try await Self.admin(["lock", "alice", "--data-dir", data])
        #expect(lock.stdout == "Alice is locked; their session was closed.\n", "\(lock.stdout)\(lock.stderr)")
        #expect(try await Self.notice("account_locked", on: alice))
        #expect(await Self.closes(alice))
        #expect(try await Self.login("alice", port: server.port, caFile: caFile).answer == "account_locked")
        let logs = server.logs
        #expect(logs.contains("operator=\(Self.operatorName), pid "), "\(logs)")
        #expect(logs.contains("via the admin socket") && logs.contains("admin lock alice: alice is locked"), "\(logs)")

        let unlock = try await Self.admin(["unlock", "alice", "--data-dir", data])
        #expect(unlock.status == 0, "\(unlock.stderr)")
        alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: false)

        // Whoever holds carol's session must not go on under the password the operator replaced.
        let carol = try await LineClient.loggedIn("carol", port: server.port, caFile: caFile, register: true)
        let reset = try await Self.admin(["reset-password", "carol", "--data-dir", data])
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(reset.stdout.hasSuffix("\nTheir session was closed.\n"), "\(reset.stdout)")
        #expect(try await Self.notice("password_reset", on: carol))
        #expect(await Self.closes(carol))
        let oneTime = try Self.oneTimePassword(reset.stdout, for: "carol")
        #expect(try await Self.login("carol", port: server.port, caFile: caFile).answer == "bad_credentials")
        #expect(try await Self.login("carol", password: oneTime, port: server.port, caFile: caFile).frame["must_change_password"] as? Bool == true)
        #expect(server.logs.contains("admin reset-password carol: one-time password issued; their session was closed"), "\(server.logs)")
        #expect(!server.logs.contains(oneTime), "the password is never logged")

        let delete = try await Self.admin(["delete", "alice", "--data-dir", data])
        #expect(
            delete.stdout == "Alice is deleted: account, published keys, 1 waiting message; their session was closed.\n",
            "\(delete.stdout)\(delete.stderr)")
        #expect(try await Self.notice("account_deleted", on: alice))
        #expect(await Self.closes(alice))
        try await bob.send(#"{"type":"fetch_keys","id":7,"username":"alice"}"#)
        #expect(try await bob.reply(to: 7)["code"] as? String == "unknown_user")
        try await bob.send(#"{"type":"chat","id":8,"with":"alice"}"#)
        #expect(try await bob.reply(to: 8)["code"] as? String == "unknown_user")
        #expect(try await Self.login("alice", port: server.port, caFile: caFile).answer == "bad_credentials")
        let after = try await Self.admin(["users", "--data-dir", data])
        #expect(!after.stdout.contains("alice"), "\(after.stdout)")
        let afterStats = try await Self.admin(["stats", "--data-dir", data])
        #expect(afterStats.stdout.contains("inboxes          0 messages"), "\(afterStats.stdout)")
        await bob.close()
    }

    @Test("the admin socket goes with the server, a stale one is replaced, and one in use is refused")
    func socketLifecycle() async throws {
        let certificates = try CertificateFixture.shared()
        let first = try await ServerProcess(certificates: certificates)
        let socket = first.dataDirectory + "/admin.sock"
        #expect(FileManager.default.fileExists(atPath: socket))
        // Another server on another data directory may not take a socket in use.
        let other = try TemporaryDirectory(prefix: "admin")
        defer { other.remove() }
        await #expect(throws: FixtureError.self) {
            _ = try await ServerProcess(
                certificates: certificates, dataDirectory: other.appending("data"), arguments: ["--admin-socket", socket])
        }
        #expect(first.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "removed at shutdown")

        // A killed server leaves its socket; the next one replaces it.
        let killed = try await ServerProcess(certificates: certificates, dataDirectory: first.dataDirectory)
        killed.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: socket))
        let next = try await ServerProcess(certificates: certificates, dataDirectory: first.dataDirectory)
        defer { next.stop() }
        let stats = try await Self.admin(["stats", "--data-dir", first.dataDirectory])
        #expect(stats.status == 0 && stats.stdout.contains("sessions online  0\n"), "\(stats.stdout)\(stats.stderr)")
    }

    @Test("PostgreSQL: directly or through --admin-socket, a lock refuses logins and closes the open session")
    func postgres() async throws {
        let certificates = try CertificateFixture.shared()
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let store = cluster.url(database: database)
        let work = try TemporaryDirectory(prefix: "adm")
        defer { work.remove() }
        let socket = work.appending("a.sock")
        let server = try await ServerProcess(
            certificates: certificates, store: store, arguments: ["--scrypt-log-n", "10", "--admin-socket", socket])
        defer { server.stop() }
        let caFile = certificates.caFile
        var alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: true)

        // On the database itself: the server holding the session is told through it.
        let direct = try await Self.admin(["lock", "alice", "--store", store])
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(direct.stdout == "Alice is locked; their session was closed.\n", "\(direct.stdout)\(direct.stderr)")
        #expect(direct.stderr.contains("operator=\(Self.operatorName))"), "\(direct.stderr)")
        #expect(try await Self.notice("account_locked", on: alice))
        #expect(await Self.closes(alice))
        #expect(try await Self.login("alice", port: server.port, caFile: caFile).answer == "account_locked")
        let stats = try await Self.admin(["stats", "--store", store])
        #expect(stats.stdout.contains("sessions online  0 (on every server using the database)"), "\(stats.stdout)")
        #expect(stats.stdout.contains("accounts         1 (1 locked)"), "\(stats.stdout)")
        #expect(stats.stdout.contains("PostgreSQL database"), "\(stats.stdout)")

        let throughServer = try await Self.admin(["lock", "alice", "--store", store, "--admin-socket", socket])
        #expect(throughServer.stdout == "Alice was already locked.\n", "\(throughServer.stdout)\(throughServer.stderr)")
        let unlock = try await Self.admin(["unlock", "alice", "--store", store, "--admin-socket", socket])
        #expect(unlock.status == 0, "\(unlock.stderr)")
        alice = try await LineClient.loggedIn("alice", port: server.port, caFile: caFile, register: false)
        let online = try await Self.admin(["stats", "--store", store, "--admin-socket", socket])
        #expect(online.stdout.contains("sessions online  1\n"), "\(online.stdout)")
        let relock = try await Self.admin(["lock", "alice", "--store", store, "--admin-socket", socket])
        #expect(relock.stdout == "Alice is locked; their session was closed.\n", "\(relock.stdout)\(relock.stderr)")
        #expect(try await Self.notice("account_locked", on: alice))
        #expect(await Self.closes(alice))

        let delete = try await Self.admin(["delete", "alice", "--store", store])
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try await cluster.query(database, "SELECT count(*) FROM accounts") == "0")
        let users = try await Self.admin(["users", "--store", store])
        #expect(users.stdout == "No accounts.\n", "\(users.stdout)")
    }

    @Test("two nodes on one database: lock, reset-password and delete, through one node's socket or the database, close the session on the other node")
    func acrossNodes() async throws {
        let certificates = try CertificateFixture.shared()
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let store = cluster.url(database: database)
        let work = try TemporaryDirectory(prefix: "adm")
        defer { work.remove() }
        let socketA = work.appending("a.sock")
        let nodeA = try await ServerProcess(
            certificates: certificates, store: store,
            arguments: ["--scrypt-log-n", "10", "--node-id", "node-a", "--admin-socket", socketA])
        defer { nodeA.stop() }
        let nodeB = try await ServerProcess(
            certificates: certificates, store: store, arguments: ["--scrypt-log-n", "10", "--node-id", "node-b"])
        defer { nodeB.stop() }
        let caFile = certificates.caFile
        let throughA = ["--store", store, "--admin-socket", socketA]

        // lock through node A's socket: bob's session on node B is closed, and he is refused on both.
        var bob = try await LineClient.loggedIn("bob", port: nodeB.port, caFile: caFile, register: true)
        let lock = try await Self.admin(["lock", "bob"] + throughA)
        #expect(lock.stdout == "Bob is locked; their session was closed.\n", "\(lock.stdout)\(lock.stderr)")
        #expect(try await Self.notice("account_locked", on: bob))
        #expect(await Self.closes(bob))
        for node in [nodeA, nodeB] {
            #expect(try await Self.login("bob", port: node.port, caFile: caFile).answer == "account_locked")
        }
        #expect(nodeA.logs.contains("admin lock bob: bob is locked; their session was closed"), "\(nodeA.logs)")
        #expect(nodeB.logs.contains("closed by the operator: account_locked"), "\(nodeB.logs)")

        // reset-password on the database itself: the session on node B is closed; the old
        // password is refused on either node, the one-time one must be changed first.
        #expect(try await Self.admin(["unlock", "bob", "--store", store]).status == 0)
        bob = try await LineClient.loggedIn("bob", port: nodeB.port, caFile: caFile, register: false)
        let reset = try await Self.admin(["reset-password", "bob", "--store", store])
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(reset.stdout.hasSuffix("\nTheir session was closed.\n"), "\(reset.stdout)")
        #expect(try await Self.notice("password_reset", on: bob))
        #expect(await Self.closes(bob))
        let oneTime = try Self.oneTimePassword(reset.stdout, for: "bob")
        #expect(!reset.stderr.contains(oneTime), "the password is never logged")
        for node in [nodeA, nodeB] {
            #expect(try await Self.login("bob", port: node.port, caFile: caFile).answer == "bad_credentials")
        }
        let again = try await Self.login("bob", password: oneTime, port: nodeB.port, caFile: caFile)
        #expect(again.answer == "ok" && again.frame["must_change_password"] as? Bool == true, "\(again.frame)")
        try await again.client.send(#"{"type":"chat","id":3,"with":"alice"}"#)
        #expect(try await again.client.reply(to: 3)["code"] as? String == "password_change_required")

        // delete through node A's socket while bob is on node B: closed, and gone everywhere.
        let delete = try await Self.admin(["delete", "bob"] + throughA)
        #expect(delete.stdout.hasSuffix("; their session was closed.\n"), "\(delete.stdout)\(delete.stderr)")
        #expect(try await Self.notice("account_deleted", on: again.client))
        #expect(await Self.closes(again.client))
        for node in [nodeA, nodeB] {
            #expect(try await Self.login("bob", password: oneTime, port: node.port, caFile: caFile).answer == "bad_credentials")
        }
        #expect(try await cluster.query(database, "SELECT count(*) FROM presence WHERE username = 'bob'") == "0")

        // Offline: nothing to close, and nothing said about a session.
        let carol = try await LineClient.loggedIn("carol", port: nodeB.port, caFile: caFile, register: true)
        await carol.close()
        for _ in 0..<100 where try await cluster.query(database, "SELECT count(*) FROM presence WHERE username = 'carol'") != "0" {
            try await Task.sleep(for: .milliseconds(50))
        }
        let offline = try await Self.admin(["lock", "carol"] + throughA)
        #expect(offline.stdout == "Carol is locked.\n", "\(offline.stdout)\(offline.stderr)")
    }
}
