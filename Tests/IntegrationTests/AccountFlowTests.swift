import Foundation
import Testing
import TestSupport

/// Registration and login through real `chat-client` processes against a real server.
@Suite("Accounts through chat-client")
struct AccountFlowTests {
    @Test("register, a taken name, wrong password, login, exit")
    func registerAndLogin() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }

        let first = try ClientProcess(port: server.port, caFile: certificates.caFile)
        #expect(await first.waitFor("Register or login (R/L):"))
        #expect(first.output.contains("over TLSv1.3"))
        for line in ["R", "Alice", "correct horse", "correct horse"] { first.type(line) }
        #expect(await first.waitFor("Logged in as alice"), "\(first.output)")
        first.type("exit")
        #expect(await first.waitForExit() == 0)

        let second = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["R", "alice", "another password", "another password"] { second.type(line) }
        #expect(await second.waitFor("username is already taken"), "\(second.output)")
        for line in ["r", "bob", "password one", "password two"] { second.type(line) }
        #expect(await second.waitFor("Passwords do not match; type the password again (Enter alone goes back)."))
        second.type("")  // an empty password goes back to the menu
        for line in ["L", "ALICE", "wrong password"] { second.type(line) }
        #expect(await second.waitFor("wrong username or password"))
        for line in ["L", "nosuchuser", "wrong password"] { second.type(line) }
        #expect(await second.waitFor("wrong username or password", occurrence: 2), "unknown user gets the same answer")
        // A bad name is refused before any password is asked for.
        for line in ["R", "bad name!"] { second.type(line) }
        #expect(await second.waitFor("username must be"), "\(second.output)")
        // A short password is refused before the confirmation, and asked for again.
        let asked = second.output.components(separatedBy: "Password:").count - 1
        for line in ["R", "shorty", "short"] { second.type(line) }
        #expect(await second.waitFor("Password must be at least 8 bytes; try another"), "\(second.output)")
        #expect(await second.waitFor("Password:", occurrence: asked + 2), "asked again, not confirmed")
        #expect(!second.output.contains("Confirm password:") || second.output.components(separatedBy: "Confirm password:").count - 1 == 2)
        second.type("")
        for line in ["L", "alice", "correct horse"] { second.type(line) }
        #expect(await second.waitFor("Logged in as alice"))
        second.closeInput()  // Ctrl-D in a pipe: leaves cleanly
        #expect(await second.waitForExit() == 0)
        #expect(!server.logs.contains("correct horse"), "passwords never reach the logs")
    }

    @Test("failed logins are throttled from the 5th failure on")
    func throttling() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--login-backoff", "60"])
        defer { server.stop() }
        let client = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["R", "carol", "password123", "password123"] { client.type(line) }
        #expect(await client.waitFor("Logged in as carol"))
        client.type("exit")
        #expect(await client.waitForExit() == 0)

        let attacker = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for attempt in 1...5 {
            for line in ["L", "carol", "guess \(attempt)xx"] { attacker.type(line) }
            #expect(await attacker.waitFor("wrong username or password", occurrence: attempt))
        }
        for line in ["L", "carol", "password123"] { attacker.type(line) }
        #expect(await attacker.waitFor("too many attempts, try again in"), "\(attacker.output)")
        #expect(!attacker.output.contains("Logged in as carol"), "even the right password waits out the back-off")
        attacker.type("exit")
        #expect(await attacker.waitForExit() == 0)
    }

    @Test("a second login of the same user displaces the first")
    func displacement() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let first = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["R", "dave", "password123", "password123"] { first.type(line) }
        #expect(await first.waitFor("Logged in as dave"))

        let second = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["L", "dave", "password123"] { second.type(line) }
        #expect(await second.waitFor("Logged in as dave"))
        #expect(await first.waitFor("Logged in from elsewhere"), "\(first.output)")
        #expect(await first.waitForExit() == 1)
        second.type("exit")
        #expect(await second.waitForExit() == 0)
    }

    @Test("accounts survive a restart; a second server on the same data directory is refused")
    func restartAndLock() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        let client = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["R", "erin", "password123", "password123", "exit"] { client.type(line) }
        #expect(await client.waitForExit() == 0)
        #expect(client.output.contains("Logged in as erin"))

        // Same data directory while the first still runs.
        let clash = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-server"),
            ["--port", "0", "--cert", certificates.certificateFile, "--key", certificates.privateKeyFile,
             "--data-dir", server.dataDirectory])
        #expect(clash.status != 0)
        #expect(clash.stderr.contains("is already in use"), "\(clash.stderr)")

        // Modes: directory 0700, files 0600.
        let dirMode = try FileManager.default.attributesOfItem(atPath: server.dataDirectory)[.posixPermissions] as? NSNumber
        #expect(dirMode?.intValue == 0o700)
        for file in try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory) {
            let mode = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/" + file)[.posixPermissions]
                as? NSNumber
            #expect(mode?.intValue == 0o600, "\(file)")
        }

        #expect(server.stop() == 0, "SIGTERM is an orderly exit")
        let restarted = try await ServerProcess(
            certificates: certificates, dataDirectory: server.dataDirectory, workDirectory: server.workDirectory)
        defer { restarted.stop() }
        let again = try ClientProcess(port: restarted.port, caFile: certificates.caFile)
        for line in ["L", "erin", "password123", "exit"] { again.type(line) }
        #expect(await again.waitForExit() == 0)
        #expect(again.output.contains("Logged in as erin"), "\(again.output)")
    }

    @Test("SIGTERM tells connected clients the server is shutting down and exits 0; they wait for it to come back")
    func shutdownNotice() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        let client = try ClientProcess(port: server.port, caFile: certificates.caFile)
        for line in ["R", "frank", "password123", "password123"] { client.type(line) }
        #expect(await client.waitFor("Logged in as frank"))
        #expect(server.stop() == 0)
        #expect(await client.waitFor("server shutting down"), "\(client.output)")
        #expect(await client.waitFor("reconnecting"), "\(client.output)")
        client.type("exit")
        #expect(await client.waitForExit() == 0, "exit leaves while it waits: \(client.output)")
    }

    @Test("a client that cannot verify the server says why and exits non-zero")
    func untrustedServer() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let other = try CertificateFixture.make()
        defer { other.directory.remove() }
        let result = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-client"), ["--port", String(server.port), "--ca", other.caFile], input: "L\n")
        #expect(result.status == 1)
        #expect(result.stderr.contains("not trusted by \(other.caFile)"), "\(result.stderr)")
    }

    @Test("no server, or no such host: one plain sentence, not NIO's internals")
    func nothingToConnectTo() async throws {
        let certificates = try CertificateFixture.shared()
        // A port nobody listens on: bind one, note it, close it.
        let probe = try await ServerProcess(certificates: certificates)
        let port = probe.port
        probe.stop()
        let refused = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-client"), ["--port", String(port), "--ca", certificates.caFile], input: "")
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("cannot connect to 127.0.0.1:\(port): connection refused (is chat-server running?)"),
            "\(refused.stderr)")
        #expect(!refused.stderr.contains("SingleConnectionFailure"))
        let unknown = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-client"), ["--host", "no-such-host.invalid", "--ca", certificates.caFile], input: "")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown host"), "\(unknown.stderr)")
    }
}
