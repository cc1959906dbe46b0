import Foundation
import Shared
import Testing
import TestSupport

/// End-to-end encryption with the real binaries: what alice types reaches bob's screen and
/// nothing the server has (its files, its logs, its memory) holds it; key changes are
/// caught; the local state is sealed.
@Suite("End-to-end encryption between real clients")
struct EndToEndEncryptionTests {
    /// A chat-client for `name` over the state directory `state` (its machine), registered
    /// or logged in, at "Chat with:".
    private func user(
        _ name: String, _ server: ServerProcess, state: String, register: Bool
    ) async throws -> ClientProcess {
        try await ClientProcess(port: server.port, caFile: server.certificates.caFile, stateDirectory: state)
            .enter(as: name, register: register)
    }

    /// alice and bob with each other's chat open.
    private func paired(_ alice: ClientProcess, _ bob: ClientProcess) async throws {
        alice.type("bob")
        bob.type("alice")
        guard await alice.waitFor("now chatting with bob"), await bob.waitFor("now chatting with alice") else {
            throw FixtureError("no pair:\n\(alice.output)\n\(bob.output)")
        }
    }

    /// Every regular file under `path`, read whole.
    private func files(under path: String) -> [(String, Data)] {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
        return walker.compactMap { item in
            let file = path + "/" + (item as? String ?? "")
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: file)
            else { return nil }
            return (file, data)
        }
    }

    @Test("a marker sent live and through the inbox across a restart reaches bob, and never the server's files, logs or memory")
    func markerNeverOnTheServer() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "e2e")
        defer { work.remove() }
        let data = work.appending("data")
        let live = "zebra-live-\(UUID().uuidString.prefix(8))"
        let stored = "zebra-stored-\(UUID().uuidString.prefix(8))"
        var logs = ""

        let first = try await ServerProcess(
            certificates: certificates, dataDirectory: data, arguments: ["--log-level", "trace"])
        let alice = try await user("alice", first, state: work.appending("alice"), register: true)
        let bob = try await user("bob", first, state: work.appending("bob"), register: true)
        try await paired(alice, bob)
        #expect(await alice.waitFor("first chat with bob"), "trust on first use is said")
        alice.type(live)
        #expect(await bob.waitFor("alice: \(live)"))
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        #expect(await alice.waitFor("bob left"))
        alice.type(stored)
        #expect(await alice.waitFor("you: \(stored)"))
        let storedLine = alice.output.components(separatedBy: "\n").first { $0.contains("you: \(stored)") } ?? ""
        #expect(storedLine.contains("stored"), "the message went to bob's inbox: \(storedLine)")
        alice.type("exit")
        #expect(await alice.waitForExit() == 0)
        first.stop()
        logs += first.logs + ((try? String(contentsOfFile: first.stdoutPath, encoding: .utf8)) ?? "")

        let second = try await ServerProcess(
            certificates: certificates, dataDirectory: data, arguments: ["--log-level", "trace"])
        defer { second.stop() }
        let bobAgain = try await user("bob", second, state: work.appending("bob"), register: false)
        bobAgain.type("alice")
        #expect(await bobAgain.waitFor("alice: \(stored)"), "the stored message decrypts after the restart")
        bobAgain.type("/history")
        #expect(await bobAgain.waitFor("alice: \(live)"), "history holds the live message too")

        // The running server's memory, after delivery. Not under a sanitizer: its shadow
        // memory is terabytes of mappings that gcore would try to write out.
        let environment = ProcessInfo.processInfo.environment
        if environment["ASAN_OPTIONS"] == nil && environment["TSAN_OPTIONS"] == nil {
            try await expectNotInMemory([live, stored], of: second, scratch: work)
        }

        logs += second.logs + ((try? String(contentsOfFile: second.stdoutPath, encoding: .utf8)) ?? "")
        for marker in [live, stored] {
            #expect(!logs.contains(marker), "\(marker) is in the server's logs")
            for (file, contents) in files(under: data) {
                #expect(contents.range(of: Data(marker.utf8)) == nil, "\(marker) is in \(file)")
            }
            // Nor in either client's state directory: history and keys are sealed there.
            for (file, contents) in files(under: work.appending("alice")) + files(under: work.appending("bob")) {
                #expect(contents.range(of: Data(marker.utf8)) == nil, "\(marker) is in \(file) in the clear")
            }
        }
        bobAgain.type("exit")
        #expect(await bobAgain.waitForExit() == 0)
    }

    @Test("bob on a new machine: alice is warned, sends nothing until /trust, and safety numbers change")
    func keyChangeNeedsTrust() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let work = try TemporaryDirectory(prefix: "e2e-trust")
        defer { work.remove() }
        let alice = try await user("alice", server, state: work.appending("alice"), register: true)
        let bob = try await user("bob", server, state: work.appending("bob"), register: true)
        try await paired(alice, bob)
        alice.type("hello old bob")
        #expect(await bob.waitFor("alice: hello old bob"))

        alice.type("/verify")
        bob.type("/verify")
        #expect(await alice.waitFor("If they match"))
        #expect(await bob.waitFor("If they match"))
        let before = safetyNumber(in: alice.output)
        #expect(before != nil && before == safetyNumber(in: bob.output), "both sides see the same digits")
        alice.type("/verify bob confirmed")
        #expect(await alice.waitFor("bob's key is marked as verified"))

        // bob moves to a new machine: a new state directory, so new keys.
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        let newBob = try await user("bob", server, state: work.appending("bob-new"), register: false)
        #expect(await newBob.waitFor("replace the ones published from another device"))

        // alice's next message is refused by the server (the key changed mid-chat), and
        // her client says so loudly and sends nothing more.
        alice.type("are you there?")
        #expect(await alice.waitFor("WARNING: bob's identity key has changed"))
        alice.type("still there?")
        #expect(await alice.waitFor("WARNING: bob's identity key has changed", occurrence: 2))
        newBob.type("alice")
        #expect(await newBob.waitFor("now chatting with alice"))
        #expect(!newBob.output.contains("are you there?") && !newBob.output.contains("still there?"))

        alice.type("/verify bob")
        #expect(await alice.waitFor("If they match", occurrence: 2))
        #expect(await alice.waitFor("(not verified yet)", occurrence: 2), "the confirmation went with the old key")
        newBob.type("/verify alice")
        #expect(await newBob.waitFor("If they match"))
        let after = safetyNumber(in: String(alice.output.split(separator: "Safety number").last ?? ""))
        #expect(after != nil && after != before, "the safety number changed with the key")
        #expect(after == safetyNumber(in: newBob.output), "and both sides see the new one")

        alice.type("/trust bob")
        #expect(await alice.waitFor("bob's new key is trusted"))
        alice.type("hello new bob")
        #expect(await newBob.waitFor("alice: hello new bob"))
        newBob.type("hi alice")
        #expect(await alice.waitFor("bob: hi alice"))
        // A line ending in a backslash goes on: one message of two lines, shown indented.
        alice.type("two\\")
        alice.type("lines")
        #expect(await newBob.waitFor("alice: two\n    lines"), "\(newBob.output)")
        for client in [alice, newBob] { client.type("exit") }
        #expect(await alice.waitForExit() == 0)
        #expect(await newBob.waitForExit() == 0)
    }

    @Test("the state directory: a wrong password cannot open it, and a second client on it is refused")
    func stateDirectoryIsGuarded() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let work = try TemporaryDirectory(prefix: "e2e-state")
        defer { work.remove() }
        let state = work.appending("alice")
        let alice = try await user("alice", server, state: state, register: true)

        let second = try ClientProcess(port: server.port, caFile: server.certificates.caFile, stateDirectory: state)
        for line in ["L", "alice", "password123"] { second.type(line) }
        #expect(await second.waitFor("another chat-client is using"), "\(second.output)")
        #expect(await second.waitForExit() == 3)
        alice.type("exit")
        #expect(await alice.waitForExit() == 0)

        // The server knows a new password; the state here is sealed with the old one and
        // opens only with it, then is resealed.
        let changer = try ClientProcess(
            port: server.port, caFile: server.certificates.caFile, stateDirectory: work.appending("elsewhere"))
        for line in ["L", "alice", "password123"] { changer.type(line) }
        #expect(await changer.waitFor("Chat with:"))
        for line in ["/passwd", "password123", "password456", "password456"] { changer.type(line) }
        #expect(await changer.waitFor("Password changed."))
        changer.type("exit")
        _ = await changer.waitForExit()

        let back = try ClientProcess(port: server.port, caFile: server.certificates.caFile, stateDirectory: state)
        for line in ["L", "alice", "password456", "wrong-password"] { back.type(line) }
        #expect(await back.waitFor("sealed with another password"))
        #expect(await back.waitFor("sealed with another password", occurrence: 2), "a wrong earlier password opens nothing")
        back.type("password123")
        #expect(await back.waitFor("now sealed with your current password"))
        #expect(await back.waitFor("Chat with:"))
        back.type("exit")
        #expect(await back.waitForExit() == 0)
    }

    @Test("in chat-client: lost and reordered messages still decrypt, a tampered one is reported, a replayed one dropped")
    func hostileTransit() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let work = try TemporaryDirectory(prefix: "e2e-transit")
        defer { work.remove() }
        let bob = try await user("bob", server, state: work.appending("bob"), register: true)
        // alice, by hand: she encrypts six messages in order and the "network" (this test)
        // loses one, swaps two, damages one and repeats one.
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: server.certificates.caFile, register: true)
        let device = try EncryptingPeer("alice")
        try await device.publishKeys(on: alice)
        try await alice.chat(with: "bob")
        bob.type("alice")
        #expect(await bob.waitFor("now chatting with alice"))
        var bodies: [String] = []
        for index in 1...7 { bodies.append(try await device.body("transit \(index)", to: "bob", on: alice)) }
        var damaged = try #require(Data(base64Encoded: bodies[5]))
        damaged[damaged.count / 2] ^= 0x40
        let sent = [bodies[0], bodies[3], bodies[2], bodies[4], damaged.base64EncodedString(), bodies[4], bodies[6]]
        for (offset, body) in sent.enumerated() {
            try await alice.send(String(decoding: ClientFrame.send(id: 100 + offset, body: body).encode(), as: UTF8.self))
        }
        #expect(await bob.waitFor("alice: transit 7"))
        let shown = bob.output.components(separatedBy: "\n").compactMap { line in
            line.range(of: "alice: transit ").map { String(line[$0.upperBound...]).trimmingCharacters(in: .whitespaces) }
        }
        #expect(shown == ["1", "4", "3", "5", "7"], "message 2 lost, 3 and 4 swapped, 6 damaged, 5 repeated: \(shown)")
        #expect(bob.output.components(separatedBy: "a message from alice could not be decrypted").count - 1 == 1)
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        await alice.close()
    }

    /// Dumps `server`'s memory with gcore and checks that none of `markers` is in it.
    private func expectNotInMemory(_ markers: [String], of server: ServerProcess, scratch: TemporaryDirectory) async throws {
        let core = scratch.appending("core")
        let dump = try await ProcessRunner.run("/usr/bin/gcore", ["-o", core, String(server.pid)])
        #expect(dump.status == 0, "gcore failed: \(dump.stderr)")
        let path = "\(core).\(server.pid)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let coreData = try #require(FileManager.default.contents(atPath: path))
        #expect(coreData.range(of: Data("bob".utf8)) != nil, "the dump is the server's memory (it holds user names)")
        for marker in markers {
            #expect(coreData.range(of: Data(marker.utf8)) == nil, "\(marker) is in the server's memory")
        }
    }

    /// The 60 digits of the last safety number printed in `output`.
    private func safetyNumber(in output: String) -> String? {
        guard let block = output.components(separatedBy: "sees the same digits:").last,
              output.contains("sees the same digits:")
        else { return nil }
        let digits = block.prefix(200).filter(\.isNumber)
        return digits.count >= 60 ? String(digits.prefix(60)) : nil
    }
}
