import Foundation
import Testing
import TestSupport

/// Files between real chat-clients through a real server: sent while the partner is
/// offline, accepted later, checked, saved under a sanitised name that never replaces a
/// file; refused; the sender told either way.
@Suite("File transfer between real clients")
struct FileTransferClientTests {
    private func client(
        _ name: String, _ server: ServerProcess, work: TemporaryDirectory, register: Bool
    ) async throws -> ClientProcess {
        try await ClientProcess(
            port: server.port, caFile: server.certificates.caFile, stateDirectory: work.appending("\(name)-state"),
            arguments: ["--downloads", work.appending("\(name)-downloads")]
        ).enter(as: name, register: register)
    }

    @Test("sent while bob is offline: accepted later, whole, under a sanitised name beside an existing file; alice told")
    func offlineSendAccept() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "files")
        defer { work.remove() }
        let server = try await ServerProcess(certificates: certificates, dataDirectory: work.appending("data"))
        defer { server.stop() }

        let bob = try await client("bob", server, work: work, register: true)
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)

        // A hostile name: hidden, with an escape sequence and a right-to-left override.
        let hostile = ".\u{1B}[31mreport\u{202E}fdp.txt"
        let sanitised = "[31mreportfdp.txt"
        try FileManager.default.createDirectory(atPath: work.appending("src"), withIntermediateDirectories: true)
        let source = work.appending("src") + "/" + hostile
        let content = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 8)) })
        try content.write(to: URL(fileURLWithPath: source))
        // Something of bob's already has the name: it must survive.
        let downloads = work.appending("bob-downloads")
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: downloads + "/" + sanitised))

        let alice = try await client("alice", server, work: work, register: true)
        alice.type("bob")
        #expect(await alice.waitFor("offline"), "\(alice.output)")
        alice.type("/send \(source)")
        #expect(await alice.waitFor("you: [file] \(sanitised)"), "\(alice.output)")
        #expect(await alice.waitFor("sending \(sanitised): 100%"), "progress in a pipe: \(alice.output)")
        alice.type("exit")
        #expect(await alice.waitForExit() == 0)

        let bobAgain = try await client("bob", server, work: work, register: false)
        bobAgain.type("alice")
        #expect(await bobAgain.waitFor("alice sent \(sanitised) (98 KiB) - /accept 1 or /reject 1"), "\(bobAgain.output)")
        bobAgain.type("/accept 1")
        #expect(await bobAgain.waitFor("saved \(sanitised.dropLast(4)) (1).txt"), "\(bobAgain.output)")
        #expect(bobAgain.output.contains("checked"))
        #expect(FileManager.default.contents(atPath: downloads + "/" + sanitised) == Data("keep me".utf8))
        #expect(FileManager.default.contents(atPath: downloads + "/[31mreportfdp (1).txt") == content)
        let left = try FileManager.default.contentsOfDirectory(atPath: downloads).sorted()
        #expect(left == ["[31mreportfdp (1).txt", sanitised], "no partial file is left: \(left)")
        bobAgain.type("/files")
        #expect(await bobAgain.waitFor("No files waiting."))

        let aliceAgain = try await client("alice", server, work: work, register: false)
        #expect(await aliceAgain.waitFor("bob received \(sanitised)"), "told at login: \(aliceAgain.output)")
        aliceAgain.type("exit")
        bobAgain.type("exit")
        #expect(await aliceAgain.waitForExit() == 0)
        #expect(await bobAgain.waitForExit() == 0)
        // Told once: the outcome was acknowledged.
        let third = try await client("alice", server, work: work, register: false)
        third.type("/files")
        #expect(await third.waitFor("No files waiting."))
        #expect(!third.output.contains("bob received"), "\(third.output)")
        third.type("exit")
        _ = await third.waitForExit()
    }

    @Test(
        "10 MiB to an offline bob across a kill -9 and an interrupted download: once, whole, and never in the server's files in the clear",
        .timeLimit(.minutes(TestTimeouts.minutes(4))))
    func tenMiBAcrossKills() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "files")
        defer { work.remove() }
        let data = work.appending("data")
        var server = try await ServerProcess(certificates: certificates, dataDirectory: data)
        let port = server.port
        // A marker every 4 KiB, so any stretch of the file on the server's disk would show one.
        let marker = Array("plaintext-marker-\(UUID().uuidString.prefix(8))".utf8)
        var bytes = [UInt8]()
        bytes.reserveCapacity(10 << 20)
        while bytes.count < 10 << 20 {
            bytes += marker
            bytes += (0..<(4_096 - marker.count)).map { UInt8(truncatingIfNeeded: bytes.count &* 131 &+ $0) }
        }
        let content = Data(bytes.prefix(10 << 20))
        let source = work.appending("big.bin")
        try content.write(to: URL(fileURLWithPath: source))

        let bob = try await client("bob", server, work: work, register: true)
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)
        let alice = try await client("alice", server, work: work, register: true)
        alice.type("bob")
        #expect(await alice.waitFor("offline"))
        alice.type("/send \(source)")
        #expect(await alice.waitFor("you: [file] big.bin (10.0 MiB)", timeout: 60), "\(alice.output)")
        alice.type("exit")
        #expect(await alice.waitForExit() == 0)

        // The server dies with the file on it, then again in the middle of bob's download.
        server.stop(signal: SIGKILL)
        server = try await ServerProcess(certificates: certificates, dataDirectory: data, arguments: ["--port", String(port)])
        let bobAgain = try await client("bob", server, work: work, register: false)
        bobAgain.type("alice")
        #expect(await bobAgain.waitFor("alice sent big.bin (10.0 MiB) - /accept 1"), "\(bobAgain.output)")
        bobAgain.type("/accept 1")
        #expect(await bobAgain.waitFor("receiving big.bin: 30%", timeout: 60), "\(bobAgain.output)")
        server.stop(signal: SIGKILL)
        #expect(await bobAgain.waitFor("reconnecting"), "\(bobAgain.output)")
        server = try await ServerProcess(
            certificates: certificates, dataDirectory: data, arguments: ["--port", String(port), "--log-level", "debug"])
        defer { server.stop() }
        #expect(await bobAgain.waitFor("saved big.bin", timeout: 60), "\(bobAgain.output)")
        #expect(bobAgain.output.components(separatedBy: "saved big.bin").count == 2, "saved once")
        #expect(FileManager.default.contents(atPath: work.appending("bob-downloads/big.bin")) == content)
        // The restarted server sent only what bob did not have.
        let firstAsked = server.logs.components(separatedBy: "\n").first { $0.contains("file chunks sent") } ?? ""
        #expect(!firstAsked.isEmpty && !firstAsked.contains("from=0 "), "\(firstAsked)")
        // Nothing of the file in the clear on the server's disk, before or after delivery.
        let walker = FileManager.default.enumerator(atPath: data)
        while let item = walker?.nextObject() as? String {
            let stored = FileManager.default.contents(atPath: data + "/" + item) ?? Data()
            #expect(stored.range(of: Data(marker)) == nil, "\(item) holds the file in the clear")
        }
        bobAgain.type("exit")
        _ = await bobAgain.waitForExit()
    }

    @Test("a hostile sender's names (paths, dot files, control characters) are made safe on bob's side")
    func hostileNames() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "files")
        defer { work.remove() }
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let bob = try await client("bob", server, work: work, register: true)
        // mallory, by hand: the offer's name is whatever she likes.
        let mallory = try await LineClient.loggedIn("mallory", port: server.port, caFile: certificates.caFile, register: true)
        let device = try EncryptingPeer("mallory")
        try await device.publishKeys(on: mallory)
        try await mallory.chat(with: "bob")
        bob.type("mallory")
        #expect(await bob.waitFor("now chatting with mallory"))
        let names = ["../../etc/passwd", ".bashrc", "x\u{1B}]0;owned\u{07}\u{1B}[2J.txt", "..\\..\\boot.ini"]
        for (index, name) in names.enumerated() {
            try await device.sendFile(named: name, content: Array("file \(index)".utf8), to: "bob", id: 50 + index, on: mallory)
        }
        for (index, expected) in ["passwd", "bashrc", "x]0;owned[2J.txt", "boot.ini"].enumerated() {
            #expect(await bob.waitFor("mallory sent \(expected) (6 bytes) - /accept \(index + 1)"), "\(bob.output)")
            bob.type("/accept \(index + 1)")
            #expect(await bob.waitFor("saved \(expected) "), "\(bob.output)")
        }
        let saved = try FileManager.default.contentsOfDirectory(atPath: work.appending("bob-downloads")).sorted()
        #expect(saved == ["bashrc", "boot.ini", "passwd", "x]0;owned[2J.txt"], "\(saved)")
        #expect(!FileManager.default.fileExists(atPath: work.appending("etc/passwd")))
        #expect(!bob.output.contains("\u{1B}]0;owned"), "no escape sequence reaches bob's screen")
        bob.type("exit")
        _ = await bob.waitForExit()
        await mallory.close()
    }

    @Test("live: bob refuses the file; alice is told at once; nothing is saved")
    func liveReject() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "files")
        defer { work.remove() }
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let alice = try await client("alice", server, work: work, register: true)
        let bob = try await client("bob", server, work: work, register: true)
        alice.type("bob")
        bob.type("alice")
        #expect(await alice.waitFor("now chatting with bob"))
        let source = work.appending("notes.txt")
        try Data("secret notes\n".utf8).write(to: URL(fileURLWithPath: source))
        alice.type("/send \(source)")
        #expect(await bob.waitFor("alice sent notes.txt (13 bytes) - /accept 1 or /reject 1"), "\(bob.output)")
        bob.type("/reject 1")
        #expect(await bob.waitFor("refused notes.txt from alice"))
        #expect(await alice.waitFor("bob refused notes.txt"), "\(alice.output)")
        bob.type("/accept 1")
        #expect(await bob.waitFor("No file 1 waits"))
        #expect(!FileManager.default.fileExists(atPath: work.appending("bob-downloads/notes.txt")))
        alice.type("exit")
        bob.type("exit")
        _ = await alice.waitForExit()
        _ = await bob.waitForExit()
    }
}
