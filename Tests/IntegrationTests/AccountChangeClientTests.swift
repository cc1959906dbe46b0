import Foundation
import Testing
import TestSupport

/// What the operator's reset and a user's own deletion look like in the real chat-client,
/// driven through its standard input.
@Suite("chat-client: one-time passwords and /delete-account", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct AccountChangeClientTests {
    /// A chat-client over the state directory `state` that registers `name`, at "Chat with:".
    private func registered(_ name: String, password: String, _ server: ServerProcess, state: String) async throws -> ClientProcess {
        let client = try ClientProcess(port: server.port, caFile: server.certificates.caFile, stateDirectory: state)
        for line in ["R", name, password, password] { client.type(line) }
        guard await client.waitFor("Chat with:") else {
            throw FixtureError("\(name) did not reach the chat prompt:\n\(client.output)")
        }
        return client
    }

    @Test("after reset-password, chat-client logs in with the one-time password and makes the user choose a new one")
    func oneTimePasswordInTheClient() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--scrypt-log-n", "10"])
        defer { server.stop() }
        let work = try TemporaryDirectory(prefix: "otp")
        defer { work.remove() }
        let state = work.appending("pat")
        let first = try await registered("pat", password: "first-Secret-1", server, state: state)
        first.type("exit")
        #expect(await first.waitForExit() == 0)

        let reset = try await AdminCommandTests.admin(["reset-password", "pat", "--data-dir", server.dataDirectory])
        #expect(reset.status == 0, "\(reset.stderr)")
        let oneTime = try AdminCommandTests.oneTimePassword(reset.stdout, for: "pat")

        let client = try ClientProcess(port: server.port, caFile: certificates.caFile, stateDirectory: state)
        for line in ["L", "pat", oneTime] { client.type(line) }
        #expect(await client.waitFor("choose your own password now"), "\(client.output)")
        client.type("short")
        #expect(await client.waitFor("Password must be at least 8 bytes; try another."), "\(client.output)")
        for line in [oneTime, oneTime] { client.type(line) }
        #expect(await client.waitFor("choose a new password, not the one-time password again; try another."), "\(client.output)")
        for line in ["second-Secret-2", "second-Secret-2"] { client.type(line) }
        #expect(await client.waitFor("Password changed."), "\(client.output)")
        // The keys and history here were sealed with the first password: asked for once.
        #expect(await client.waitFor("Earlier password:"), "\(client.output)")
        client.type("first-Secret-1")
        #expect(await client.waitFor("now sealed with your current password"), "\(client.output)")
        #expect(await client.waitFor("Chat with:"), "\(client.output)")
        client.type("exit")
        #expect(await client.waitForExit() == 0)
        for secret in [oneTime, "first-Secret-1", "second-Secret-2"] {
            #expect(!client.output.contains(secret), "\(secret) was echoed")
        }

        let caFile = certificates.caFile
        let again = try await AdminCommandTests.login("pat", password: "second-Secret-2", port: server.port, caFile: caFile)
        #expect(again.answer == "ok" && again.frame["must_change_password"] == nil)
        await again.client.close()
        #expect(try await AdminCommandTests.login("pat", password: oneTime, port: server.port, caFile: caFile).answer == "bad_credentials")
        let users = try await AdminCommandTests.admin(["users", "--data-dir", server.dataDirectory])
        let row = try #require(users.stdout.split(separator: "\n").first { $0.hasPrefix("pat ") })
        #expect(row.split(separator: " ").suffix(2) == ["no", "no"], "neither locked nor must change: \(row)")
    }

    @Test("/delete-account: the username again, the password; the account goes, then this machine's keys and history")
    func deleteAccount() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--scrypt-log-n", "10"])
        defer { server.stop() }
        let work = try TemporaryDirectory(prefix: "delacct")
        defer { work.remove() }
        let aliceState = work.appending("alice")
        let alice = try await registered("alice", password: "alice-Secret-1", server, state: aliceState)
        let bob = try await registered("bob", password: "bob-Secret-1", server, state: work.appending("bob"))
        #expect(FileManager.default.fileExists(atPath: aliceState))

        alice.type("/delete-account")
        #expect(await alice.waitFor("Type your username to confirm:"), "\(alice.output)")
        alice.type("bob")
        #expect(await alice.waitFor("That is not your username; nothing was deleted."), "\(alice.output)")
        alice.type("/delete-account")
        #expect(await alice.waitFor("Type your username to confirm:", occurrence: 2))
        alice.type("alice")
        #expect(await alice.waitFor("Password:", occurrence: 2), "\(alice.output)")
        alice.type("wrong-Secret-9")
        #expect(await alice.waitFor("the password is wrong; nothing was deleted."), "\(alice.output)")
        alice.type("/delete-account")
        #expect(await alice.waitFor("Type your username to confirm:", occurrence: 3))
        alice.type("Alice")
        #expect(await alice.waitFor("Password:", occurrence: 3), "\(alice.output)")
        alice.type("alice-Secret-1")
        #expect(await alice.waitFor("Account alice deleted on the server. Deleting your keys and history in"), "\(alice.output)")
        #expect(await alice.waitFor("nothing of alice is left on this machine"), "\(alice.output)")
        #expect(await alice.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: aliceState), "the state directory is gone")
        #expect(!alice.output.contains("alice-Secret-1"))

        bob.type("alice")
        #expect(await bob.waitFor("no such user: alice"), "\(bob.output)")
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        let users = try await AdminCommandTests.admin(["users", "--data-dir", server.dataDirectory])
        #expect(!users.stdout.contains("alice"), "\(users.stdout)")
        #expect(server.logs.contains("account deleted by its user"), "\(server.logs)")
        #expect(!server.logs.contains("Secret"), "no password reaches the logs")

        // The name is free again, and starts afresh.
        let again = try await registered("alice", password: "alice-Secret-2", server, state: work.appending("alice2"))
        #expect(await again.waitFor("encryption keys made and published"), "\(again.output)")
        again.type("exit")
        #expect(await again.waitForExit() == 0)
    }
}
