import Foundation
import Testing
import TestSupport

/// chat-client in a real pseudo-terminal (tmux): what a person sees, and what they must not.
@Suite("chat-client in a real terminal")
struct TerminalTests {
    /// The shell line that runs the client (its keys and history in the server's scratch
    /// directory, not the home directory), then reports its exit status and whether the
    /// terminal echoes again.
    private func clientCommand(_ server: ServerProcess) -> String {
        "\(RepositoryPaths.binary("chat-client")) --port \(server.port) --ca \(server.certificates.caFile)"
            + " --state-dir \(server.workDirectory.appending("terminal-state")); "
            + #"echo "EXIT=$?"; if stty -a | grep -q -- ' -echo '; then echo ECHO_OFF; else echo ECHO_ON; fi"#
    }

    /// alice in chat-client on a real terminal, paired with bob in a piped chat-client.
    private func aliceChattingWithBob(server: ServerProcess, certificates: CertificateFixture) async throws
        -> (TmuxSession, ClientProcess)
    {
        let bob = try await ClientProcess(port: server.port, caFile: certificates.caFile).enter(as: "bob", register: true)

        let terminal = try TmuxSession()
        try terminal.type(clientCommand(server))
        #expect(try await terminal.waitFor("Register or login (R/L):"))
        for line in ["R", "alice"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("Password:"))
        for line in ["password123", "password123"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("Chat with:"))
        try terminal.type("bob")
        bob.type("alice")
        #expect(try await terminal.waitFor("now chatting with bob"))
        return (terminal, bob)
    }

    @Test("the typed username is shown, the password never is, and echo is back after exit")
    func passwordHidden() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let terminal = try TmuxSession()
        let password = "Sup3r-Secret-Words"

        try terminal.type(clientCommand(server))
        #expect(try await terminal.waitFor("Register or login (R/L):"))
        try terminal.type("R")
        #expect(try await terminal.waitFor("Username:"))
        try terminal.type("hiddenhank")
        #expect(try await terminal.waitFor("Password:"))
        try terminal.type(password)
        #expect(try await terminal.waitFor("Confirm password:"))
        try terminal.type(password)
        #expect(try await terminal.waitFor("Logged in as hiddenhank"))
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))
        #expect(try await terminal.waitFor("ECHO_ON"))

        let screen = try terminal.screen()
        #expect(screen.contains("Username: hiddenhank"), "the username is echoed as typed")
        #expect(!screen.contains(password), "the password must never appear:\n\(screen)")
        #expect(!screen.contains("Sup3r"), "not even part of it")
    }

    @Test("Ctrl-C at the hidden password prompt restores echo")
    func interruptRestoresEcho() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let terminal = try TmuxSession()

        try terminal.type(clientCommand(server))
        #expect(try await terminal.waitFor("Register or login (R/L):"))
        try terminal.type("L")
        #expect(try await terminal.waitFor("Username:"))
        try terminal.type("ivan")
        #expect(try await terminal.waitFor("Password:"))
        try terminal.type("half-typed-pw", enter: false)
        try terminal.press("C-c")
        #expect(try await terminal.waitFor("EXIT=130"))
        let restored = try await terminal.waitFor("ECHO_ON")
        let screen = try terminal.screen()
        #expect(restored, "echo must be restored after Ctrl-C:\n\(screen)")
        #expect(!screen.contains("half-typed-pw"))
    }

    @Test("a message arriving mid-typing appears above the prompt and the half-typed line is redrawn")
    func incomingWhileTyping() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let (terminal, bob) = try await aliceChattingWithBob(server: server, certificates: certificates)

        try terminal.type("half typed", enter: false)
        bob.type("incoming while you type")
        #expect(try await terminal.waitFor("bob: incoming while you type"))
        let lines = try terminal.screen().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let messageRow = lines.lastIndex { $0.contains("bob: incoming while you type") }
        let promptRow = lines.lastIndex { $0.contains("[bob] > half typed") }
        #expect(messageRow != nil && promptRow != nil && messageRow! < promptRow!,
            "message above, prompt and typed text redrawn below:\n\(lines.joined(separator: "\n"))")
        #expect(!(lines[messageRow ?? 0]).contains("half typed"), "the message line is not mangled")

        // Finishing the line sends what was typed, half before and half after the message.
        try terminal.type(" and done")
        #expect(await bob.waitFor("alice: half typed and done"))
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))
        #expect(try await terminal.waitFor("ECHO_ON"))
        bob.type("exit")
        _ = await bob.waitForExit()
    }

    @Test("a message waiting from someone else shows in the prompt until that chat is opened; bodies cannot drive the screen")
    func unreadInPrompt() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let (terminal, bob) = try await aliceChattingWithBob(server: server, certificates: certificates)

        // carol, by hand but encrypting: messages for alice, who is chatting with bob.
        let carol = try await LineClient.loggedIn("carol", port: server.port, caFile: certificates.caFile, register: true)
        let carolDevice = try EncryptingPeer("carol")
        try await carolDevice.publishKeys(on: carol)
        try await carol.chat(with: "alice")
        try await carolDevice.send("are you there?", to: "alice", id: 5, on: carol)
        #expect(try await terminal.waitFor("[bob] (carol: 1) >"), "\((try? terminal.screen()) ?? "")")
        try await carolDevice.send("hello again", to: "alice", id: 6, on: carol)
        #expect(try await terminal.waitFor("[bob] (carol: 2) >"), "\((try? terminal.screen()) ?? "")")

        try terminal.type("/chat carol")
        #expect(try await terminal.waitFor("carol: are you there?"))
        #expect(try await terminal.waitFor("[carol] >"), "opened: no longer waiting")

        // A multi-line message with an escape sequence that would clear the screen and a
        // right-to-left override: decrypted, then neutralised.
        try await carolDevice.send("first line\nsecond line\u{1B}[2J\u{202E}evil", to: "alice", id: 7, on: carol)
        #expect(try await terminal.waitFor("carol: first line"))
        let screen = try terminal.screen()
        #expect(screen.contains("    second line?[2J?evil"), "continuation indented, controls shown as ?:\n\(screen)")
        #expect(screen.contains("now chatting with bob"), "the screen was not cleared")
        _ = bob
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))
        await carol.close()
    }

    @Test("delivered updates the mark on the message's own line while it is on screen")
    func deliveredInPlace() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let (terminal, bob) = try await aliceChattingWithBob(server: server, certificates: certificates)
        try terminal.type("are you there?")
        #expect(await bob.waitFor("alice: are you there?"))
        // bob's client acknowledges what it showed; alice's line changes its mark.
        let unicodeMark = try await terminal.waitFor("are you there?  \u{2713}\u{2713}", timeout: 5)
        let asciiMark = unicodeMark ? false : try await terminal.waitFor("are you there?  [delivered]")
        #expect(unicodeMark || asciiMark)
        let screen = try terminal.screen()
        #expect(!screen.contains("bob received:"), "no second line while the message is on screen:\n\(screen)")
        #expect(screen.components(separatedBy: "are you there?").count - 1 == 1, "one line for the message:\n\(screen)")
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))
        bob.type("exit")
        _ = await bob.waitForExit()
    }

    @Test("/passwd asks for the current password and the new one twice, shows none of them, and changes it")
    func changePassword() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let terminal = try TmuxSession()
        try terminal.type(clientCommand(server))
        #expect(try await terminal.waitFor("Register or login (R/L):"))
        for line in ["R", "pat"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("Password:"))
        for line in ["first-Secret-1", "first-Secret-1"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("Chat with:"))

        try terminal.type("/passwd")
        #expect(try await terminal.waitFor("Current password:"))
        try terminal.type("wrong-Secret-9")
        #expect(try await terminal.waitFor("New password:"))
        for line in ["second-Secret-2", "second-Secret-2"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("the current password is wrong; password not changed."))

        try terminal.type("/passwd")
        #expect(try await terminal.waitFor("Current password:", occurrence: 2))
        try terminal.type("first-Secret-1")
        #expect(try await terminal.waitFor("New password:", occurrence: 2))
        try terminal.type("short")
        #expect(try await terminal.waitFor("Password must be at least 8 bytes; password not changed."))

        try terminal.type("/passwd")
        #expect(try await terminal.waitFor("Current password:", occurrence: 3))
        for line in ["first-Secret-1", "second-Secret-2", "second-Secret-2"] { try terminal.type(line) }
        #expect(try await terminal.waitFor("Password changed."))
        let screen = try terminal.screen()
        for secret in ["first-Secret-1", "second-Secret-2", "wrong-Secret-9", "short"] {
            #expect(!screen.contains(secret), "\(secret) was echoed:\n\(screen)")
        }
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))

        // The new password logs in; the old one no longer does.
        _ = try await LineClient.loggedIn("pat", port: server.port, caFile: certificates.caFile, register: false, password: "second-Secret-2")
        await #expect(throws: (any Error).self) {
            _ = try await LineClient.loggedIn("pat", port: server.port, caFile: certificates.caFile, register: false, password: "first-Secret-1")
        }
        #expect(!server.logs.contains("Secret"), "no password reaches the logs")
    }

    @Test("/send on a terminal: the progress bar goes away, the file's line takes its ✓✓, and the prompt works on")
    func sendFile() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let (terminal, bob) = try await aliceChattingWithBob(server: server, certificates: certificates)
        let source = server.workDirectory.appending("big.bin")
        try Data(repeating: 0x5A, count: 3 << 20).write(to: URL(fileURLWithPath: source))
        try terminal.type("/send \(source)")
        #expect(try await terminal.waitFor("you: [file] big.bin (3.0 MiB)"), "\((try? terminal.screen()) ?? "")")
        #expect(await bob.waitFor("alice sent big.bin (3.0 MiB) - /accept 1"))
        #expect(try await terminal.waitFor("✓✓"), "delivered shows on the file's line: \((try? terminal.screen()) ?? "")")
        let screen = try terminal.screen()
        #expect(!screen.contains("sending big.bin"), "the progress bar does not stay behind:\n\(screen)")
        try terminal.type("still here")
        #expect(await bob.waitFor("alice: still here"))
        try terminal.type("exit")
        #expect(try await terminal.waitFor("EXIT=0"))
        bob.type("exit")
        _ = await bob.waitForExit()
    }
}
