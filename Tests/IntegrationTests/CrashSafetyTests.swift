import Foundation
import Shared
import Testing
import TestSupport

/// kill -9 at unplanned moments while messages stream into an offline inbox: whatever the
/// server answered "stored" must reach the recipient's screen exactly once, after any
/// number of crashes, and nothing may arrive twice or out of nowhere.
@Suite("Crash safety under kill -9")
struct CrashSafetyTests {
    static let killCycles = 6

    /// What the sender learnt about each message it sent.
    private struct Ledger {
        /// Answered "stored": must be delivered exactly once.
        var stored: [String] = []
        /// Sent, but the answer was lost with the server: may be delivered, at most once.
        var unanswered: Set<String> = []
        /// Refused with an error: must never be delivered.
        var refused: [String] = []
    }

    /// Streams messages, several in flight, until the server dies under it; records every
    /// answer in `ledger`.
    private func stream(
        _ client: LineClient, as peer: EncryptingPeer, cycle: Int, ledger: inout Ledger, killAfter: Int, kill: () -> Void
    ) async {
        var storedThisCycle = 0
        var inFlight: [Int: String] = [:]
        var nextID = 100
        var open = true
        while open {
            // Keep up to 16 messages in flight, as a fast client would.
            while inFlight.count < 16 {
                let body = "crash-\(cycle)-\(nextID)"
                do {
                    try await peer.send(body, to: "bob", id: nextID, on: client)
                } catch {
                    open = false
                    break
                }
                inFlight[nextID] = body
                nextID += 1
            }
            guard let frame = try? await client.receiveJSON(timeout: 10) else {
                open = false
                break
            }
            guard let id = frame["id"] as? Int, let body = inFlight.removeValue(forKey: id) else { continue }
            switch (frame["type"] as? String, frame["status"] as? String) {
            case ("receipt", "stored"):
                ledger.stored.append(body)
                storedThisCycle += 1
                // The kill fires while more messages are in flight, so it lands somewhere
                // inside a write, a sync or a reply, not between them.
                if storedThisCycle == killAfter { kill() }
            default:
                ledger.refused.append(body)
                // Refusals would never reach the count: kill anyway so the cycle ends.
                if ledger.refused.count == 20 { kill() }
            }
        }
        ledger.unanswered.formUnion(inFlight.values)
        await client.close()
    }

    @Test("six kill -9s mid-stream: every stored message is shown exactly once, GDBM reopens each time")
    func killNineLoop() async throws {
        let certificates = try CertificateFixture.shared()
        // No rate limit and room for everything: this test is about crashes, not caps.
        let arguments = [
            "--message-rate", "100000", "--message-burst", "100000",
            "--inbox-max-messages", "1000000", "--inbox-max-bytes", "100000000",
        ]
        var server = try await ServerProcess(certificates: certificates, arguments: arguments)
        let dataDirectory = server.dataDirectory
        let work = server.workDirectory
        try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true).close()
        // bob's machine: chat-client registers him and publishes his keys; the same state
        // directory reads the messages at the end.
        let bobState = work.appending("bob-state")
        let bobFirst = try await ClientProcess(port: server.port, caFile: certificates.caFile, stateDirectory: bobState)
            .enter(as: "bob", register: true)
        bobFirst.type("exit")
        _ = await bobFirst.waitForExit()
        // alice encrypts by hand, one device across every reconnection.
        let aliceDevice = try EncryptingPeer("alice")

        var ledger = Ledger()
        // Seeded, so a failure can be replayed with the same kill points.
        var random = FrameMutator(seed: 0x4B11_1999, corpus: [[0]])
        for cycle in 0..<Self.killCycles {
            let alice = try await LineClient.loggedIn(
                "alice", port: server.port, caFile: certificates.caFile, register: false)
            if cycle == 0 { try await aliceDevice.publishKeys(on: alice) }
            try await alice.chat(with: "bob")
            let pid = server.pid
            // After a seeded number of "stored" answers, and a seeded few milliseconds more.
            let killAfter = 10 + random.below(40)
            let delay = UInt64(random.below(30))
            let killer = Locked<Task<Void, Never>?>(nil)
            await stream(alice, as: aliceDevice, cycle: cycle, ledger: &ledger, killAfter: killAfter) {
                killer.withLock {
                    $0 = Task.detached {
                        try? await Task.sleep(nanoseconds: delay * 1_000_000)
                        kill(pid, SIGKILL)
                    }
                }
            }
            await killer.withLock { $0 }?.value
            #expect(server.stop() == 137 || !server.process.isRunning)
            // Restarting is the check that GDBM opens cleanly after each crash.
            server = try await ServerProcess(
                certificates: certificates, dataDirectory: dataDirectory, arguments: arguments, workDirectory: work)
        }
        defer { server.stop() }
        #expect(ledger.stored.count > Self.killCycles * 10, "too few messages were stored to prove anything")
        #expect(ledger.refused.isEmpty, "refused while the server was up: \(ledger.refused.prefix(5))")

        // The recipient, in the real client, on a real screen (its output).
        let bob = try ClientProcess(port: server.port, caFile: certificates.caFile, stateDirectory: bobState)
        for line in ["L", "bob", "password123"] { bob.type(line) }
        #expect(await bob.waitFor("Chat with:"), "bob did not log in:\n\(bob.output)")
        bob.type("alice")
        let last = ledger.stored.last ?? "none"
        #expect(await bob.waitFor("alice: \(last)", timeout: 60), "the last stored message never arrived")
        // Let anything that should not come have its chance to.
        _ = await bob.waitFor("never printed", timeout: 2)
        bob.type("exit")
        #expect(await bob.waitForExit() == 0)

        let screen = bob.output
        let stored = Set(ledger.stored)
        var shown: [String: Int] = [:]
        for line in screen.split(separator: "\n") {
            guard let range = line.range(of: "crash-") else { continue }
            let body = line[range.lowerBound...].prefix { !$0.isWhitespace }
            shown[String(body), default: 0] += 1
        }
        let missing = ledger.stored.filter { shown[$0] == nil }
        let twice = shown.filter { $0.value > 1 }.map(\.key)
        let unexplained = shown.keys.filter { !stored.contains($0) && !ledger.unanswered.contains($0) }
        #expect(missing.isEmpty, "stored but never shown: \(missing.prefix(10))")
        #expect(twice.isEmpty, "shown more than once: \(twice.prefix(10))")
        #expect(unexplained.isEmpty, "shown but never sent: \(unexplained.prefix(10))")
        // Stored messages arrive in the order they were stored.
        let order = screen.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "crash-") else { return nil }
            let body = String(line[range.lowerBound...].prefix { !$0.isWhitespace })
            return stored.contains(body) ? body : nil
        }
        #expect(order == ledger.stored, "stored messages arrived out of order")
        print(
            "crash safety: \(Self.killCycles) kill -9 cycles, \(ledger.stored.count) stored messages checked, "
                + "\(ledger.unanswered.count) unanswered, \(shown.count - ledger.stored.count) of those delivered")
    }
}
