import Foundation
import Shared
import Testing
import TestSupport

/// Slowloris: a thousand sockets that connect and never handshake must not keep a
/// legitimate user from logging in and chatting, for the whole length of the attack.
///
/// The attack runs in a `chat-bench --scenario slowloris` process of its own, not in this
/// one: a test process holding a thousand sockets makes Foundation's `Process.run` (which
/// every other test uses to start servers and clients) scan more than 32 KiB of
/// /proc/self/fd, and its scan then copies past the end of glibc's directory buffer; it
/// crashed the suite once.
///
/// The latency figures are printed, not asserted (tests are not timed on a shared
/// machine); what is asserted is that every round of login/chat/send succeeded while the
/// attack held its sockets (the bench's rounds and this test's own, whose partner must
/// receive every message), and that the server's handshake timeout, not the attacker,
/// ended the held connections, dribblers included.
@Suite("Slowloris")
struct SlowlorisTests {
    @Test(
        "1,000 silent and dribbling sockets from 33 addresses: legitimate users keep chatting throughout",
        .timeLimit(.minutes(TestTimeouts.minutes(3))))
    func slowloris() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--handshake-timeout", "3"])
        defer { server.stop() }

        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true)
        try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true).close()
        try await bob.send(#"{"type":"chat","id":3,"with":"alice"}"#)
        let descriptorsBefore = try server.openFileDescriptors()

        // The bench attacks for 12 s after its crowd is in place (four handshake timeouts),
        // running its own rounds meanwhile.
        let bench = Task {
            try await ProcessRunner.run(
                RepositoryPaths.binary("chat-bench"),
                [
                    "--scenario", "slowloris", "--port", String(server.port), "--ca", certificates.caFile,
                    "--server-pid", String(server.pid), "--slowloris-sockets", "1000", "--slowloris-seconds", "12",
                ])
        }
        // Most of the crowd at once on the server (all 1,000 at one sample is rare: the
        // first ones time out while the last are still connecting on a loaded machine).
        let heldByServer = await waitUntil(seconds: 60) { ((try? server.openFileDescriptors()) ?? 0) >= descriptorsBefore + 900 }
        #expect(heldByServer, "the attack never held 900 sockets on the server at once")

        // This test's own rounds, at least five and for longer than two handshake timeouts.
        var latencies: [Double] = []
        var leastHeld = Int.max
        let end = Date().addingTimeInterval(7)
        var round = 0
        while heldByServer, Date() < end || round < 5 {
            round += 1
            let started = Date()
            let alice = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
            try await alice.send(#"{"type":"login","id":1,"username":"alice","password":"password123"}"#)
            try await alice.send(#"{"type":"chat","id":2,"with":"bob"}"#)
            try await alice.send(#"{"type":"send","id":3,"body":"round \#(round)"}"#)
            let receipt = try await alice.reply(to: 3)
            #expect(receipt["status"] as? String == "sent", "round \(round): \(receipt)")
            #expect(try await bob.waitForMessage(body: "round \(round)"), "round \(round): bob never got it")
            latencies.append(Date().timeIntervalSince(started))
            leastHeld = min(leastHeld, (try server.openFileDescriptors()) - descriptorsBefore)
            await alice.close()
        }

        let run = try await bench.value
        #expect(run.status == 0, "chat-bench failed:\n\(run.stderr.suffix(4_000))")
        let line = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("{") }, "no JSON line:\n\(run.stdout)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(server.process.isRunning)
        #expect(result["round_failures"] as? Int == 0, "\(line)")
        // The bench counts its rounds in a fixed window (15 s), and under a sanitizer on a
        // loaded machine one round takes 2-3 s: a few rounds, none failed, is users chatting
        // throughout (this test's own loop above goes on until it has five).
        #expect((result["rounds"] as? Int ?? 0) >= 3, "\(line)")
        // Sockets the server timed out are reopened at once, so the crowd stays in place;
        // the server drops them in waves (they were opened together) and reopening hundreds
        // at once takes a moment, longer on a loaded machine (a sample found 237 once in CI),
        // so the crowd is held to being in place at the start and never gone.
        #expect((result["held_at_start"] as? Int ?? 0) >= 1_000, "\(line)")
        #expect((result["least_held"] as? Int ?? 0) >= 100, "the attack lost its grip: \(line)")
        // The server, not the attacker, ended the held sockets: the handshake timeout
        // closed the silent ones and the dribblers alike (a byte a second buys nothing).
        #expect((result["dropped_by_server"] as? Int ?? 0) >= 900, "too few sockets timed out: \(line)")
        #expect((result["dribblers_dropped"] as? Int ?? 0) >= 20, "too few dribblers timed out: \(line)")
        if !latencies.isEmpty {
            let sorted = latencies.sorted()
            print(
                "slowloris: \(result["least_held"] ?? "?") sockets held at least, \(result["dropped_by_server"] ?? "?") timed "
                    + "out and reopened; bench: \(result["rounds"] ?? "?") rounds, p50 \(result["p50_us"] ?? "?") µs; "
                    + "this test: \(round) rounds (the server held \(leastHeld) attack sockets or more after each), median \(Int(sorted[sorted.count / 2] * 1000)) ms, "
                    + "max \(Int((sorted.last ?? 0) * 1000)) ms")
        }
        await bob.close()
    }
}
