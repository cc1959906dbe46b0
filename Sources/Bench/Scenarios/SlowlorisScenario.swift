import ChatSession
import NIOCore
import Shared

/// `slowloris`: N connections that never finish (or even start) a TLS handshake, some
/// dribbling a byte a second, reopened as soon as the server drops them; meanwhile a
/// legitimate user connects, logs in, opens the chat and sends a message, again and again
/// for T seconds. Reports each round's latency, the sockets held, and what the attack
/// costs the server in memory and CPU.
struct SlowlorisScenario {
    let context: ScenarioContext

    /// Connections per source address: one under the server's default per-address cap.
    static let perAddress = 31

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        let connector = context.connector
        let user = context.username("l", 0)
        let partnerName = context.username("l", 1)
        try await BenchAccounts.register([user, partnerName], label: "slowloris", context: context)
        let partner = try await connector.session(username: partnerName).get()
        try await partner.chat(with: user).get()

        let sockets = plan.slowlorisSockets
        let dribbling = max(1, sockets / 40)
        let crowd = SlowlorisCrowd(
            host: server.nodes[0].host, port: server.nodes[0].port, group: connector.group, perAddress: Self.perAddress)
        let rssBefore = try server.stats.residentKiB()
        Progress.say("slowloris: opening \(sockets) silent and dribbling connections")
        crowd.start(silent: sockets - dribbling, dribbling: dribbling)
        // Wait (bounded) until the crowd is in place; the rounds run whatever it reached.
        let settleDeadline = MonotonicClock.now() + 30_000_000_000
        while crowd.held.value < sockets, MonotonicClock.now() < settleDeadline {
            await MonotonicClock.sleep(seconds: 0.05)
        }
        let rssAttacked = try server.stats.residentKiB()
        let heldAtStart = crowd.held.value

        let recorder = LatencyRecorder()
        let cpuBefore = try server.stats.cpuSeconds()
        let start = MonotonicClock.now()
        let deadline = start + UInt64(plan.slowlorisSeconds * 1e9)
        recorder.begin("round", at: start)
        var rounds = 0
        var failures = 0
        var firstFailure: String?
        var leastHeld = heldAtStart
        let ticker = Progress.every(1) {
            "slowloris: \(crowd.held.value) held, \(crowd.closedSilent.value + crowd.closedDribbling.value) dropped by the server"
        }
        while MonotonicClock.now() < deadline {
            rounds += 1
            let sent = MonotonicClock.now()
            do {
                let connection = try await connector.session(username: user).get()
                try await connection.chat(with: partnerName).get()
                let body = "slowloris round \(rounds)"
                let receipt = try await connection.withHandler { handler in
                    handler.request(.send(body: body))
                }.get()
                guard case .receipt(_, _, .sent) = receipt else {
                    throw BenchError.unexpectedReply("\(receipt.kind.rawValue) to send")
                }
                recorder.record(sentAt: sent, receivedAt: MonotonicClock.now())
                try? await connection.close().get()
            } catch {
                failures += 1
                firstFailure = firstFailure ?? "\(error)"
            }
            leastHeld = min(leastHeld, crowd.held.value)
        }
        let end = MonotonicClock.now()
        recorder.end(at: end)
        ticker.cancel()
        let cpuAfter = try server.stats.cpuSeconds()
        let seconds = MonotonicClock.seconds(from: start, to: end)
        crowd.stop()
        try? await partner.close().get()
        // Let the held connections close before the next scenario.
        let closeDeadline = MonotonicClock.now() + 5_000_000_000
        while crowd.held.value > 0, MonotonicClock.now() < closeDeadline {
            await MonotonicClock.sleep(seconds: 0.05)
        }

        let latency = recorder.summary("round")
        let dropped = crowd.closedSilent.value + crowd.closedDribbling.value
        let kibPerSocket = heldAtStart > 0 ? Double(rssAttacked - rssBefore) / Double(heldAtStart) : nil
        var result = ScenarioResult(scenario: "slowloris")
        result.set("sockets", sockets)
        result.set("dribbling", dribbling)
        result.set("source_addresses", crowd.spreadsAddresses ? (sockets + Self.perAddress - 1) / Self.perAddress : 1)
        result.set("held_at_start", heldAtStart)
        result.set("least_held", leastHeld)
        result.set("dropped_by_server", dropped)
        result.set("dribblers_dropped", crowd.closedDribbling.value)
        result.set("connect_failures", crowd.connectFailures.value)
        result.set("seconds", seconds, digits: 2)
        result.set("rounds", rounds)
        result.set("round_failures", failures)
        result.setLatency(latency)
        result.set("server_rss_kib_before", rssBefore)
        result.set("server_rss_kib_attacked", rssAttacked)
        result.set("server_kib_per_held_socket", kibPerSocket, digits: 2)
        result.set("server_cpu_ms_per_s", (cpuAfter - cpuBefore) * 1e3 / seconds, digits: 1)
        var notes = [
            "\(leastHeld)-\(heldAtStart) held from \(crowd.spreadsAddresses ? "127.0.0.2+" : "one address"), "
                + "\(dropped) dropped by the server and reopened (\(crowd.closedDribbling.value) dribblers)",
            "a round = connect + TLS + hello + login + chat + send, until \"sent\"",
            "server \(Format.memory(kib: rssAttacked - rssBefore)) more RSS under attack",
        ]
        if failures > 0 { notes.append("\(failures) rounds failed: \(firstFailure ?? "?")") }
        result.addRow(
            .init(
                scenario: "slowloris",
                work: "\(rounds) rounds in \(Format.decimal(seconds, digits: 1)) s, \(failures) failed",
                throughput: "\(Format.rate(Double(rounds) / seconds)) rounds/s",
                latency: latency.text + " (whole round)",
                serverCPU: "\(Format.decimal((cpuAfter - cpuBefore) * 1e3 / seconds, digits: 0)) ms/s",
                notes: notes.joined(separator: "; ")))
        return result
    }
}
